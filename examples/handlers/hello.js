#!/usr/bin/env node
// A faaskit handler in Node: answers one HTTP request on the client
// connection faas-init passed (FAAS_CLIENT_FD, or fd 3 under LISTEN_FDS).
'use strict';
const net = require('net');

const fd = process.env.LISTEN_FDS ? 3 : Number(process.env.FAAS_CLIENT_FD);
if (!Number.isInteger(fd) || fd < 0) {
  process.stderr.write('hello.js: FAAS_CLIENT_FD is not set (run me under faas-init)\n');
  process.exit(64);
}

const body = 'hello from faaskit (node)\n';
const sock = new net.Socket({ fd, readable: true, writable: true });
let head = '';
let answered = false;

function answer() {
  if (answered) return;
  answered = true;
  sock.end(
    'HTTP/1.1 200 OK\r\n' +
      'Content-Type: text/plain\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'Connection: close\r\n' +
      '\r\n' +
      body,
  );
}

sock.setEncoding('latin1');
sock.on('data', (chunk) => {
  head += chunk;
  if (head.includes('\r\n\r\n') || head.includes('\n\n')) answer();
});
sock.on('end', () => (head.length > 0 ? answer() : sock.end()));
sock.on('error', (err) => {
  process.stderr.write(`hello.js: ${err.message}\n`);
  process.exitCode = 74;
});
