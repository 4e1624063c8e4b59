/**
 * A long-lived election participant for election tests: connects with role
 * "host" (as the MCP server does), registers NAME, prints one JSON line per
 * connection event, and on "send TO TEXT" lines from stdin sends messages.
 * Exits when stdin closes.
 */
import { AgentClient } from "../../lib/client/agent_client.ts";
import { hostBrokerWith } from "../../lib/app/host_broker.ts";
import { setLogLevel } from "../../lib/log.ts";

setLogLevel("warn");
const [port, dataDir, name] = Deno.args;
const out = (o: unknown) => console.log(JSON.stringify(o));
const client = await AgentClient.connect({
  host: "127.0.0.1",
  port: Number(port),
  dataDir,
  role: "host",
  autoReregister: true,
  hostBroker: hostBrokerWith({ maxFrame: 1 << 20 }),
  onEvent: (e) => {
    if (e.type === "connected") out({ event: "connected", hosting: e.hosting });
    if (e.type === "lost") out({ event: "lost" });
  },
});
out({ event: "ready", hosting: client.hostedBroker !== undefined, pid: Deno.pid });
await client.register(name);
out({ event: "registered", name });
const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
let buf = "";
for await (const chunk of lines) {
  buf += chunk;
  let nl;
  while ((nl = buf.indexOf("\n")) >= 0) {
    const line = buf.slice(0, nl);
    buf = buf.slice(nl + 1);
    const [cmd, to, ...rest] = line.split(" ");
    try {
      if (cmd === "send") out({ event: "sent", ...(await client.send(to, rest.join(" "))) });
      if (cmd === "check") out({ event: "checked", ...(await client.check({ ack: true })) });
    } catch (e) {
      out({ event: "error", message: (e as Error).message });
    }
  }
}
await client.close();
