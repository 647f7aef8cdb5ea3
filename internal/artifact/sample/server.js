'use strict';
// The sample app greenlight's local engine releases: Node.js, built-in
// modules only. greenlight/run starts it in the release directory.
//
// Environment:
//   PORT                    port to listen on (default 8080; 0 picks a free one)
//   GREENLIGHT_LISTEN_HOST  host to listen on (default 127.0.0.1)
//   GREENLIGHT_APP          app name on the home page (default: the APP file)
//   GREENLIGHT_HEALTH_PATH  health endpoint (default /healthz)
//   GREENLIGHT_DATA_DIR     data directory (the data volume); unset: no data
//   GREENLIGHT_FAULT_FILE   read on every request but the health check;
//                           missing = no fault. "errors": requests 2, 4, 6...
//                           after the fault appeared answer 500. "crash": the
//                           next request exits the process with status 70,
//                           unanswered.
// The version is the VERSION file of the working directory, read at start.
//
// Endpoints (every response carries X-App-Version: <version>):
//   GET <health path>    200 "ok", never affected by faults
//   GET /version         200 <version>
//   GET /                200 HTML page with the app name and version
//   POST /write          body: a write id ([A-Za-z0-9._:-]+, at most 200
//                        bytes; otherwise 400). Appends "<id>\n" to
//                        <data dir>/writes.log and answers 201 <version> once
//                        it is fsynced; 503 when there is no writable data
//                        directory or the append or fsync fails.
//   GET /writes/count    200 lines in writes.log (0 if none); 503 without data
//   anything else        404
// SIGTERM (or SIGINT): stop accepting, finish in-flight requests, exit 0.
// One line on stderr per start: "<app> <version> listening on host:port
// (data: <dir>|none)".

const fs = require('node:fs');
const fsp = require('node:fs/promises');
const http = require('node:http');
const path = require('node:path');

const EXIT_CRASH = 70;
const MAX_ID = 200;
const ID = /^[A-Za-z0-9._:-]+$/;

function fail(message) {
  process.stderr.write(`sample app: ${message}\n`);
  process.exit(2);
}

function readTrimmed(file) {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch (err) {
    if (err.code === 'ENOENT') return '';
    throw err;
  }
}

const version = readTrimmed('VERSION');
if (!version) fail(`no VERSION file in ${process.cwd()}`);
const app = process.env.GREENLIGHT_APP || readTrimmed('APP') || 'app';
const host = process.env.GREENLIGHT_LISTEN_HOST || '127.0.0.1';
const portText = process.env.PORT || '8080';
if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) > 65535) {
  fail(`PORT ${JSON.stringify(portText)} is not a port number (0-65535)`);
}
const healthPath = process.env.GREENLIGHT_HEALTH_PATH || '/healthz';
const dataDir = process.env.GREENLIGHT_DATA_DIR || '';
const faultFile = process.env.GREENLIGHT_FAULT_FILE || '';

// The fault in force and how many requests it has seen: the counter
// restarts whenever the fault appears, so which requests fail is exact.
let fault = '';
let faultRequests = 0;
let stopping = false;

function currentFault() {
  if (!faultFile) return '';
  try {
    return fs.readFileSync(faultFile, 'utf8').trim();
  } catch {
    return ''; // missing or unreadable: no fault
  }
}

function send(req, res, status, body, type = 'text/plain; charset=utf-8') {
  res.statusCode = status;
  res.setHeader('Content-Type', type);
  res.setHeader('Content-Length', Buffer.byteLength(body));
  // Keep-alive connections would hold a stopping server open.
  if (stopping) res.setHeader('Connection', 'close');
  res.end(req.method === 'HEAD' ? undefined : body);
}

function escapeHTML(s) {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function homePage() {
  const a = escapeHTML(app);
  const v = escapeHTML(version);
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>${a} ${v}</title></head>
<body>
<h1>${a}</h1>
<p>Version <strong id="version">${v}</strong>, released by greenlight.</p>
</body>
</html>
`;
}

// readBody keeps at most limit+1 bytes: enough to tell a body is too long.
function readBody(req, limit) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let kept = 0;
    req.on('data', (chunk) => {
      if (kept <= limit) {
        chunks.push(chunk);
        kept += chunk.length;
      }
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

// dataProblem says why writes cannot be stored, or '' when they can.
async function dataProblem() {
  if (!dataDir) return 'no data directory (GREENLIGHT_DATA_DIR is not set)';
  try {
    const st = await fsp.stat(dataDir);
    if (!st.isDirectory()) return `data directory ${dataDir} is not a directory`;
  } catch (err) {
    if (err.code === 'ENOENT') return `data directory ${dataDir} does not exist`;
    return `data directory ${dataDir} is unavailable: ${err.code || err.message}`;
  }
  return '';
}

async function write(req, res) {
  const body = await readBody(req, MAX_ID);
  if (body.length === 0) return send(req, res, 400, 'bad write id: the body is empty\n');
  if (body.length > MAX_ID) return send(req, res, 400, `bad write id: longer than ${MAX_ID} bytes\n`);
  const id = body.toString('latin1');
  if (!ID.test(id)) return send(req, res, 400, 'bad write id: only A-Z a-z 0-9 . _ : - are allowed\n');
  const problem = await dataProblem();
  if (problem) return send(req, res, 503, `write not stored: ${problem}\n`);
  try {
    // A frozen volume is simulated by a read-only directory; an existing
    // writes.log would still take appends, so refuse explicitly.
    await fsp.access(dataDir, fs.constants.W_OK);
  } catch {
    return send(req, res, 503, `write not stored: data directory ${dataDir} is read-only\n`);
  }
  const file = path.join(dataDir, 'writes.log');
  try {
    const fh = await fsp.open(file, 'a');
    try {
      await fh.write(`${id}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
    // The directory entry of a new writes.log must be durable too.
    const dir = await fsp.open(dataDir, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  } catch (err) {
    return send(req, res, 503, `write not stored: ${file}: ${err.code || err.message}\n`);
  }
  return send(req, res, 201, `${version}\n`);
}

async function countWrites(req, res) {
  const problem = await dataProblem();
  if (problem) return send(req, res, 503, `${problem}\n`);
  let lines = 0;
  try {
    for await (const chunk of fs.createReadStream(path.join(dataDir, 'writes.log'))) {
      for (const byte of chunk) if (byte === 10) lines++;
    }
  } catch (err) {
    if (err.code !== 'ENOENT') return send(req, res, 503, `writes.log unreadable: ${err.code || err.message}\n`);
  }
  return send(req, res, 200, `${lines}\n`);
}

async function handle(req, res) {
  res.setHeader('X-App-Version', version);
  const pathname = (req.url || '/').split('?')[0];
  const get = req.method === 'GET' || req.method === 'HEAD';
  if (get && pathname === healthPath) return send(req, res, 200, 'ok\n');

  const now = currentFault();
  if (now !== fault) faultRequests = 0;
  fault = now;
  if (fault === 'crash') {
    process.stderr.write(`${app} ${version}: crash fault, exiting ${EXIT_CRASH}\n`);
    req.socket.destroy();
    process.exit(EXIT_CRASH);
  }
  if (fault === 'errors' && ++faultRequests % 2 === 0) {
    return send(req, res, 500, 'injected fault: errors\n');
  }

  if (get && pathname === '/version') return send(req, res, 200, `${version}\n`);
  if (get && pathname === '/') return send(req, res, 200, homePage(), 'text/html; charset=utf-8');
  if (req.method === 'POST' && pathname === '/write') return write(req, res);
  if (get && pathname === '/writes/count') return countWrites(req, res);
  return send(req, res, 404, 'not found\n');
}

const server = http.createServer((req, res) => {
  handle(req, res).catch((err) => {
    process.stderr.write(`${app} ${version}: ${req.method} ${req.url}: ${err.stack || err}\n`);
    if (!res.headersSent) send(req, res, 500, 'internal error\n');
    else res.destroy();
  });
});

// Requests Node rejects before the handler still say which version refused.
server.on('clientError', (err, socket) => {
  if (socket.writable && !socket.writableEnded) {
    socket.end(`HTTP/1.1 400 Bad Request\r\nX-App-Version: ${version}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  } else {
    socket.destroy();
  }
});

server.on('error', (err) => fail(`cannot listen on ${host}:${portText}: ${err.message}`));

function stop(signal) {
  if (stopping) return;
  stopping = true;
  process.stderr.write(`${app} ${version}: ${signal}, finishing in-flight requests\n`);
  server.close(() => process.exit(0));
  server.closeIdleConnections();
  // Under systemd's TimeoutStopSec (30 s): a stuck client must not turn a
  // clean stop into a SIGKILL.
  setTimeout(() => {
    server.closeAllConnections();
    process.exit(0);
  }, 25000).unref();
}
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));

server.listen(Number(portText), host, () => {
  const addr = server.address();
  const where = addr.family === 'IPv6' ? `[${addr.address}]:${addr.port}` : `${addr.address}:${addr.port}`;
  process.stderr.write(`${app} ${version} listening on ${where} (data: ${dataDir || 'none'})\n`);
});
