// SSH recognised by its protocol through the default hooks (--protocol on: TCP's tracepoints on this
// kernel); the cases are test/helpers/protocol-cases.ts.
import { protocolTests } from "../helpers/protocol-cases.ts";

protocolTests("on");
