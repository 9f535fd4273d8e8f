// SSH recognised by its protocol through the packet hooks (--protocol packets: cgroup_skb on the cgroup v2
// root, what a kernel without the socket hooks' tracepoints gets); the cases are
// test/helpers/protocol-cases.ts.
import { protocolTests } from "../helpers/protocol-cases.ts";

protocolTests("packets");
