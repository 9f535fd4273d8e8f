// SSH recognised by its protocol when the kernel refuses the socket hooks (a fault injected at load:
// SSH_OUTBOUND_FAULT_SOCKET_HOOKS): the probe loads again with the packet hooks, says so, and every case
// of test/helpers/protocol-cases.ts still holds.
import { protocolTests } from "../helpers/protocol-cases.ts";

protocolTests("fallback");
