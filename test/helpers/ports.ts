/**
 * A port for a child process that binds it later (restarts included). Picked at random below the kernel's
 * ephemeral range (ip_local_port_range 32768–60999), so the system never hands it to another socket meanwhile,
 * as it could a port found with listen(0); checked free here before it is returned.
 */
import { createServer } from 'node:net';

const LOW = 20_000;
const HIGH = 32_000;

function tryBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

export async function childPort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW));
    if (await tryBind(port)) return port;
  }
  throw new Error('no free port found below the ephemeral range');
}
