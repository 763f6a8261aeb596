/**
 * The page as a person uses it: headless Chromium (Debian's package, driven by
 * playwright-core) against the real stack behind nginx on loopback.
 */

import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { chromium } from 'playwright-core';

import { ARTIFACTS_DIR, startStack } from './stack.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const STEP_TIMEOUT_MS = 15_000;
const USER = { username: 'michael', email: 'michael@mherman.org' };

describe('the users page through nginx', { timeout: 180_000 }, () => {
  let stack;
  let browser;
  let page;
  const pageErrors = [];
  let failed = false;

  /** A test whose failure keeps the servers' logs and a screenshot for the post-mortem. */
  function step(name, body) {
    test(name, async () => {
      try {
        await body();
      } catch (error) {
        failed = true;
        throw error;
      }
    });
  }

  before(async () => {
    stack = await startStack();
    // Playwright gives the browser a fresh temporary profile (user data dir) of its own.
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      timeout: 60_000,
    });
    page = await browser.newPage({ viewport: { width: 1024, height: 700 } });
    page.setDefaultTimeout(STEP_TIMEOUT_MS);
    page.on('pageerror', (error) => pageErrors.push(error.message));
  });

  after(async () => {
    if (failed && page) await screenshot('failure.png').catch(() => {});
    await browser?.close();
    if (stack) {
      if (failed) console.log(`Logs kept in ${stack.runDir}\n${stack.logTails()}`);
      await stack.stop({ keepLogs: failed });
    }
  });

  const input = (label) => page.getByLabel(label, { exact: true });
  const submit = () => page.getByRole('button', { name: 'Submit' });
  const cards = () => page.locator('h4.card.card-body.bg-light');

  async function addThroughForm({ username, email }) {
    await input('Username').fill(username);
    await input('Email').fill(email);
    await submit().click();
  }

  /** Resolve to the page's next `method` request to the users service, via nginx. */
  function waitForUsers(method) {
    return page.waitForResponse((response) => {
      const url = new URL(response.url());
      return (
        response.request().method() === method &&
        url.origin === stack.baseUrl &&
        url.pathname === '/users'
      );
    });
  }

  async function screenshot(name) {
    await page.screenshot({ path: path.join(ARTIFACTS_DIR, name), fullPage: true });
  }

  step('serves the page at / with an empty list and the bundled Bootstrap styles', async () => {
    const listed = waitForUsers('GET');
    const response = await page.goto(`${stack.baseUrl}/`);
    assert.equal(response.status(), 200);
    await page.getByRole('heading', { level: 1, name: 'All Users' }).waitFor();
    assert.deepEqual(await (await listed).json(), { status: 'success', data: { users: [] } });
    assert.equal(await page.getByRole('alert').count(), 0);
    assert.equal(await cards().count(), 0);
    const buttonColour = await submit().evaluate((el) => getComputedStyle(el).backgroundColor);
    assert.equal(buttonColour, 'rgb(13, 110, 253)', 'Bootstrap .btn-primary is applied');
  });

  step('adds a user through the form and shows it in the list', async () => {
    const posted = waitForUsers('POST');
    await addThroughForm(USER);
    assert.equal((await posted).status(), 201);

    await page.getByRole('heading', { level: 4, name: USER.username, exact: true }).waitFor();
    assert.deepEqual(await cards().allTextContents(), [USER.username]);
    assert.equal(await input('Username').inputValue(), '');
    assert.equal(await input('Email').inputValue(), '');
    assert.equal(await page.getByRole('alert').count(), 0);
  });

  step('shows the service message for a repeated email and keeps what was typed', async () => {
    await addThroughForm({ username: 'michael2', email: USER.email });

    const alert = page.getByRole('alert');
    await alert.waitFor();
    assert.equal((await alert.textContent()).trim(), 'Sorry. That email already exists.');
    assert.equal(await input('Username').inputValue(), 'michael2');
    assert.equal(await input('Email').inputValue(), USER.email);
    assert.ok(await submit().isEnabled());
    assert.deepEqual(await cards().allTextContents(), [USER.username]);
    await screenshot('duplicate-email.png');
  });

  step('still lists the user after a reload', async () => {
    const listed = waitForUsers('GET');
    await page.reload();
    const body = await (await listed).json();
    assert.deepEqual(
      body.data.users.map(({ username, email }) => ({ username, email })),
      [USER],
    );
    await page.getByRole('heading', { level: 4, name: USER.username, exact: true }).waitFor();
    assert.deepEqual(await cards().allTextContents(), [USER.username]);
    assert.equal(await page.getByRole('alert').count(), 0);
    await screenshot('users-page.png');
  });

  step('raised no uncaught errors in the page', () => {
    assert.deepEqual(pageErrors, []);
  });
});
