// A port free for both UDP and TCP on loopback, for servers that take a
// port number rather than binding port 0 themselves.
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';

export async function freeUdpTcpPort(): Promise<number> {
  for (;;) {
    const udp = createSocket('udp4');
    const port = await new Promise<number>((resolve) => udp.bind(0, '127.0.0.1', () => resolve(udp.address().port)));
    const tcpFree = await new Promise<boolean>((resolve) => {
      const tcp = createServer();
      tcp.once('error', () => resolve(false));
      tcp.listen(port, '127.0.0.1', () => tcp.close(() => resolve(true)));
    });
    udp.close();
    if (tcpFree) return port;
  }
}
