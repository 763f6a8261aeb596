/**
 * The production stack on loopback, for the browser test: PostgreSQL (a scratch
 * database), the migrations applied once as docker-compose-prod.yml's users-migrate
 * one-shot applies them, the users service started by its production entrypoint
 * (gunicorn with its committed config), and Debian's nginx running the project's
 * prod.conf with its compose hosts mapped to loopback ports (tests/stack/local_conf.py),
 * plus a server block that plays the client image (the built bundle as static files).
 *
 * Everything it starts it stops again, with bounded waits.
 */

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const E2E_DIR = path.dirname(fileURLToPath(import.meta.url));
const CLIENT_DIR = path.dirname(E2E_DIR);
const REPO_ROOT = path.resolve(CLIENT_DIR, '..', '..');
const USERS_DIR = path.join(REPO_ROOT, 'services', 'users');
const USERS_ENTRYPOINT = path.join(USERS_DIR, 'entrypoint-prod.sh');
const MIGRATE_ENTRYPOINT = path.join(USERS_DIR, 'entrypoint.sh');
const PROD_CONF = path.join(REPO_ROOT, 'services', 'nginx', 'prod.conf');
const LOCAL_CONF = path.join(REPO_ROOT, 'tests', 'stack', 'local_conf.py');
const PROD_COMPOSE = path.join(REPO_ROOT, 'docker-compose-prod.yml');
// The variables the nginx image fills its template with (Dockerfile-prod's filter).
const NGINX_TEMPLATE_VARIABLES = ['USERS_POST_RATE', 'USERS_POST_BURST'];

const POSTGRES_URL = process.env.E2E_POSTGRES_URL ?? 'postgresql://postgres@127.0.0.1:5432';
// One database per run, so runs in two checkouts on one machine keep apart.
const DATABASE_NAME = `users_e2e_${process.pid}`;
const VENV = process.env.E2E_VENV ?? path.join(REPO_ROOT, '.venv');
const NGINX = process.env.E2E_NGINX ?? '/usr/sbin/nginx';
const MIME_TYPES = '/etc/nginx/mime.types';

const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 10_000;

// Servers still running when node exits (a crash, an interrupted run) are killed.
const running = new Set();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export const ARTIFACTS_DIR = path.join(E2E_DIR, 'artifacts');
export const DIST_DIR = path.join(CLIENT_DIR, 'dist');

/**
 * Start the stack; resolve to `{ baseUrl, stop, logTails }`. Its configuration and
 * logs live in artifacts/stack-*, which `stop` removes unless asked to keep them.
 */
export async function startStack() {
  fs.mkdirSync(ARTIFACTS_DIR, { recursive: true });
  const runDir = fs.mkdtempSync(path.join(ARTIFACTS_DIR, 'stack-'));
  // nginx's workers run as nobody and keep their temporary files in here.
  fs.chmodSync(runDir, 0o755);
  const stack = new Stack(runDir);
  try {
    await stack.start();
  } catch (error) {
    await stack.stop({ keepLogs: true });
    error.message += `\n${stack.logTails()}`;
    throw error;
  }
  return stack;
}

class Stack {
  constructor(runDir) {
    this.runDir = runDir;
    this.children = [];
    this.databaseUrl = `${POSTGRES_URL}/${DATABASE_NAME}`;
    this.baseUrl = null;
    this.createdDatabase = false;
  }

  async start() {
    checkPrerequisites();
    recreateDatabase();
    this.createdDatabase = true;
    const [usersPort, clientPort, nginxPort] = await freePorts(3);
    this.migrate();
    const usersUrl = this.startUsers(usersPort);
    await waitForHttp(`${usersUrl}/users/ping`, this.children.at(-1));
    this.baseUrl = this.startNginx({ nginxPort, clientPort, usersPort });
    await waitForHttp(`http://127.0.0.1:${clientPort}/`, this.children.at(-1));
    await waitForHttp(`${this.baseUrl}/users/ping`, this.children.at(-1));
    await waitForHttp(`${this.baseUrl}/`, this.children.at(-1));
  }

  /** The environment docker-compose-prod.yml gives the users image, on this database. */
  usersEnv(extra) {
    return {
      ...process.env,
      PATH: `${path.join(VENV, 'bin')}:${process.env.PATH}`,
      APP_SETTINGS: 'project.config.ProductionConfig',
      DATABASE_URL: this.databaseUrl,
      SECRET_KEY: 'e2e-not-a-secret',
      DB_WAIT_TIMEOUT: '10',
      PYTHONUNBUFFERED: '1',
      ...extra,
    };
  }

  /** Apply the migrations, as the users-migrate one-shot does before any replica starts. */
  migrate() {
    const args = [MIGRATE_ENTRYPOINT, 'python', 'manage.py', 'db', 'upgrade'];
    const result = spawnSync('/bin/sh', args, {
      cwd: USERS_DIR,
      env: this.usersEnv({}),
      encoding: 'utf8',
      timeout: READY_TIMEOUT_MS,
    });
    if (result.status !== 0) {
      throw new Error(`the migrations failed:\n${result.stdout}${result.stderr || result.error}`);
    }
  }

  /** Start the users service as its container does, with docker-compose-prod.yml's settings. */
  startUsers(port) {
    this.spawn('users', '/bin/sh', [USERS_ENTRYPOINT], {
      cwd: USERS_DIR,
      env: this.usersEnv({
        TRUSTED_PROXY_HOPS: '1',
        WEB_CONCURRENCY: '2',
        // gunicorn.conf.py binds 0.0.0.0:5000; this run binds to loopback instead.
        GUNICORN_CMD_ARGS: `--bind 127.0.0.1:${port}`,
      }),
    });
    return `http://127.0.0.1:${port}`;
  }

  startNginx({ nginxPort, clientPort, usersPort }) {
    const nginxDir = path.join(this.runDir, 'nginx');
    fs.mkdirSync(nginxDir, { recursive: true });
    const localConf = spawnSync(
      path.join(VENV, 'bin', 'python'),
      [
        LOCAL_CONF,
        PROD_CONF,
        ...['--listen', `127.0.0.1:${nginxPort}`],
        ...['--host', `client=127.0.0.1:${clientPort}`],
        ...['--host', `users=127.0.0.1:${usersPort}`],
        ...NGINX_TEMPLATE_VARIABLES.flatMap((name) => ['--env', `${name}=${composeDefault(name)}`]),
      ],
      { encoding: 'utf8', timeout: 30_000 },
    );
    if (localConf.status !== 0) {
      throw new Error(`local_conf.py failed:\n${localConf.stderr || localConf.error}`);
    }
    fs.writeFileSync(path.join(nginxDir, 'prod.conf'), localConf.stdout);
    const mainConf = path.join(nginxDir, 'nginx.conf');
    fs.writeFileSync(mainConf, nginxMainConf(nginxDir, clientPort));
    const errorLog = path.join(nginxDir, 'error.log');
    // stdout a file, as for nginx itself below: prod.conf writes its access lines to
    // /dev/stdout, which cannot be opened when it is a socket (spawnSync's pipes).
    const testOut = fs.openSync(path.join(nginxDir, 'nginx-t.log'), 'w');
    const test = spawnSync(NGINX, ['-t', '-q', '-p', nginxDir, '-e', errorLog, '-c', mainConf], {
      encoding: 'utf8',
      timeout: 30_000,
      stdio: ['ignore', testOut, 'pipe'],
    });
    fs.closeSync(testOut);
    if (test.status !== 0) {
      throw new Error(`nginx -t rejected the configuration:\n${test.stderr || test.error}`);
    }
    this.spawn('nginx', NGINX, ['-p', nginxDir, '-e', errorLog, '-c', mainConf], {});
    return `http://127.0.0.1:${nginxPort}`;
  }

  spawn(name, command, args, options) {
    const log = fs.openSync(path.join(this.runDir, `${name}.log`), 'a');
    const child = spawn(command, args, { ...options, stdio: ['ignore', log, log] });
    fs.closeSync(log);
    child.label = name;
    running.add(child);
    child.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
      child.once('error', (error) => resolve({ error }));
    }).finally(() => running.delete(child));
    this.children.push(child);
    return child;
  }

  /** Stop the servers, newest first, then drop the scratch database. */
  async stop({ keepLogs = false } = {}) {
    for (const child of this.children.reverse()) {
      await stopChild(child);
    }
    this.children = [];
    if (this.createdDatabase) {
      psql(`DROP DATABASE IF EXISTS ${DATABASE_NAME} WITH (FORCE)`);
      this.createdDatabase = false;
    }
    if (!keepLogs) fs.rmSync(this.runDir, { recursive: true, force: true });
  }

  /** Return the last lines of each server's log, to explain a failure. */
  logTails(lines = 20) {
    return fs
      .readdirSync(this.runDir, { recursive: true })
      .filter((name) => name.endsWith('.log'))
      .map((name) => {
        const text = fs.readFileSync(path.join(this.runDir, name), 'utf8');
        return `--- ${name}\n${text.split('\n').slice(-lines).join('\n')}`;
      })
      .join('\n');
  }
}

/** Return the default docker-compose-prod.yml gives `name` (`${NAME:-default}`). */
function composeDefault(name) {
  const text = fs.readFileSync(PROD_COMPOSE, 'utf8');
  const found = text.match(new RegExp(`\\$\\{${name}:-([^}]+)\\}`));
  if (!found) throw new Error(`docker-compose-prod.yml gives ${name} no default`);
  return found[1];
}

function checkPrerequisites() {
  const missing = [
    [path.join(DIST_DIR, 'index.html'), 'the built client (run `npm run build`)'],
    [path.join(VENV, 'bin', 'gunicorn'), 'the users service virtualenv (run `make install`)'],
    [USERS_ENTRYPOINT, "the users service's production entrypoint"],
    [PROD_CONF, "the project's nginx configuration"],
    [LOCAL_CONF, 'the script that maps compose hosts to loopback'],
    [NGINX, "nginx (Debian's nginx package)"],
    ['/usr/bin/envsubst', "envsubst, which fills nginx's template (Debian's gettext-base)"],
    [MIME_TYPES, "nginx's mime.types (Debian's nginx package)"],
  ].filter(([file]) => !fs.existsSync(file));
  if (missing.length) {
    throw new Error(`Missing ${missing.map(([file, what]) => `${what}: ${file}`).join('; ')}`);
  }
}

function nginxMainConf(nginxDir, clientPort) {
  const temp = (name) => path.join(nginxDir, `${name}_temp`);
  return `daemon off;
worker_processes 1;
pid ${path.join(nginxDir, 'nginx.pid')};
error_log ${path.join(nginxDir, 'error.log')} info;

events {
  worker_connections 256;
}

http {
  include ${MIME_TYPES};
  default_type application/octet-stream;
  access_log ${path.join(nginxDir, 'access.log')};
  client_body_temp_path ${temp('client_body')};
  proxy_temp_path ${temp('proxy')};
  fastcgi_temp_path ${temp('fastcgi')};
  uwsgi_temp_path ${temp('uwsgi')};
  scgi_temp_path ${temp('scgi')};

  # The client container: the built bundle as static files, as Dockerfile-prod serves it.
  server {
    listen 127.0.0.1:${clientPort};
    root ${DIST_DIR};
    index index.html;
  }

  include ${path.join(nginxDir, 'prod.conf')};
}
`;
}

function psql(...commands) {
  const args = [`${POSTGRES_URL}/postgres`, '-X', '-q', '-v', 'ON_ERROR_STOP=1'];
  for (const command of commands) args.push('-c', command);
  const result = spawnSync('psql', args, { encoding: 'utf8', timeout: 30_000 });
  if (result.status !== 0) {
    throw new Error(`psql failed (${commands.join('; ')}):\n${result.stderr || result.error}`);
  }
}

function recreateDatabase() {
  psql(`DROP DATABASE IF EXISTS ${DATABASE_NAME} WITH (FORCE)`, `CREATE DATABASE ${DATABASE_NAME}`);
}

async function freePorts(count) {
  const servers = await Promise.all(
    Array.from({ length: count }, () =>
      new Promise((resolve, reject) => {
        const server = net.createServer();
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => resolve(server));
      }),
    ),
  );
  const ports = servers.map((server) => server.address().port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

async function waitForHttp(url, child) {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let lastProblem = 'no answer';
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${child.label} exited before ${url} answered`);
    }
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      if (response.ok) return;
      lastProblem = `HTTP ${response.status}`;
    } catch (error) {
      lastProblem = error.cause?.code ?? error.message;
    }
    await sleep(200);
  }
  throw new Error(`${url} did not answer within ${READY_TIMEOUT_MS} ms (${lastProblem})`);
}

async function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  // Unreferenced timers: a deadline that is not reached must not keep node running.
  const deadline = () => sleep(STOP_TIMEOUT_MS, false, { ref: false });
  child.kill('SIGTERM');
  if ((await Promise.race([child.exited, deadline()])) === false) {
    child.kill('SIGKILL');
    await Promise.race([child.exited, deadline()]);
  }
}
