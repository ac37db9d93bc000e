// The Node.js floor for the SMTP acceptance benchmark: the SMTP dialogue in bare node:net,
// with line splitting and fixed replies only (no command parsing, policy, spool or fsync).
// No relay written for Node.js can accept faster on this machine. Usage: node smtp-floor.mjs PORT
import { createServer } from 'node:net';

const port = Number(process.argv[2] ?? 2725);
createServer((socket) => {
  socket.setNoDelay(true);
  let inData = false;
  let pending = '';
  socket.write('220 floor ESMTP\r\n');
  socket.on('data', (chunk) => {
    pending += chunk.toString('latin1');
    let end;
    while ((end = pending.indexOf('\n')) !== -1) {
      const line = pending.slice(0, end);
      pending = pending.slice(end + 1);
      if (inData) {
        if (line === '.\r' || line === '.') {
          inData = false;
          socket.write('250 2.0.0 Ok: queued\r\n');
        }
        continue;
      }
      const verb = line.slice(0, 4).toUpperCase();
      if (verb === 'EHLO') socket.write('250-floor\r\n250-PIPELINING\r\n250 8BITMIME\r\n');
      else if (verb === 'DATA') {
        inData = true;
        socket.write('354 End data with <CR><LF>.<CR><LF>\r\n');
      } else if (verb === 'QUIT') socket.end('221 2.0.0 Bye\r\n');
      else socket.write('250 2.1.0 Ok\r\n');
    }
  });
  socket.on('error', () => {});
}).listen(port, '127.0.0.1');
