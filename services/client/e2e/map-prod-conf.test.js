/** The loopback copy of prod.conf: what the browser test changes, and only that. */

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { mapProdConf } from './stack.js';

const loopback = {
  listen: '127.0.0.1:8080',
  hosts: { client: '127.0.0.1:3001', users: '127.0.0.1:5001' },
};

test('points proxy_pass hosts at loopback and listens on loopback', () => {
  const conf = `server {
  listen 80;
  listen [::]:80;
  server_name localhost;
  location / { proxy_pass http://client:80; }
  location /users { proxy_pass http://users:5000; proxy_set_header Host $host; }
}`;
  assert.equal(
    mapProdConf(conf, loopback),
    `server {
  listen 127.0.0.1:8080;
  # (listen line dropped for the loopback copy)
  server_name localhost;
  location / { proxy_pass http://127.0.0.1:3001; }
  location /users { proxy_pass http://127.0.0.1:5001; proxy_set_header Host $host; }
}`,
  );
});

test('points upstream servers at loopback and keeps the upstream names', () => {
  const conf = `upstream client { server client:80; }
upstream users { server users:5000 max_fails=0; }
server {
  listen 80 default_server;
  location / { proxy_pass http://client; }
  location /users { proxy_pass http://users; }
}`;
  assert.equal(
    mapProdConf(conf, loopback),
    `upstream client { server 127.0.0.1:3001; }
upstream users { server 127.0.0.1:5001 max_fails=0; }
server {
  listen 127.0.0.1:8080;
  location / { proxy_pass http://client; }
  location /users { proxy_pass http://users; }
}`,
  );
});
