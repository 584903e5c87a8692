#!/usr/bin/env node
// Drive headless Firefox over WebDriver BiDi with puppeteer-core, for pipeline/js/firefox.py.
//
// Why a Node bridge: no geckodriver is available offline (none in Debian; the npm and PyPI ones
// download at run time) and Playwright cannot drive Debian's Firefox, but puppeteer-core speaks BiDi
// to the system Firefox without downloading anything.
//
//   node firefox_bridge.mjs '{"executablePath": "/usr/bin/firefox-esr", "prefs": {...}}'
//
// Protocol: one JSON command per stdin line ({id, cmd, ...}), one JSON reply per stdout line
// ({id, result} or {id, error}). The first line written is {ready, version}, {missing, error}
// (puppeteer-core is not installed) or {error} (Firefox failed to start). Commands: newPage, goto, evaluate, waitFor, click, upload, closePage, quit.
import {createRequire} from 'node:module';
import readline from 'node:readline';

const require = createRequire(import.meta.url);

function send(message) {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

function firstLine(err) {
  return String(err?.message ?? err).split('\n').find((line) => line.trim()) ?? 'unknown error';
}

let puppeteer;
try {
  // require() (not import) so NODE_PATH can point at a node_modules that has it.
  puppeteer = require('puppeteer-core');
} catch {
  send({missing: true, error: 'npm package puppeteer-core is missing: run `npm ci` in web_demo/ (or put it on NODE_PATH)'});
  process.exit(3);
}

const {executablePath, prefs = {}} = JSON.parse(process.argv[2] ?? '{}');
let browser;
try {
  browser = await puppeteer.launch({
    browser: 'firefox',
    executablePath,
    headless: true,
    extraPrefsFirefox: prefs,
    protocolTimeout: 0, // a cpu-backend parity run may take minutes; Python applies its own limits
  });
} catch (err) {
  send({error: `${executablePath} failed to start: ${firstLine(err)}`});
  process.exit(4);
}
send({ready: true, version: await browser.version()});

const pages = new Map();
let nextPage = 1;

function pageOf(command) {
  const page = pages.get(command.page);
  if (!page) throw new Error(`no page ${command.page}`);
  return page;
}

const handlers = {
  async newPage() {
    const page = await browser.newPage();
    const id = nextPage++;
    pages.set(id, page);
    return id;
  },
  async goto(c) {
    await pageOf(c).goto(c.url, {waitUntil: 'load'});
  },
  async evaluate(c) {
    // The function travels as source text; called with its JSON argument in the page, awaited there.
    return pageOf(c).evaluate(`(${c.function})(${JSON.stringify(c.arg ?? null)})`);
  },
  async waitFor(c) {
    await pageOf(c).waitForFunction(c.expression, {timeout: c.timeout * 1000, polling: 100});
  },
  async click(c) {
    await pageOf(c).click(c.selector);
  },
  async upload(c) {
    const input = await pageOf(c).$(c.selector);
    if (!input) throw new Error(`no element ${c.selector}`);
    await input.uploadFile(c.path);
  },
  async closePage(c) {
    await pageOf(c).close();
    pages.delete(c.page);
  },
  async quit() {
    await browser.close();
    process.exit(0);
  },
};

const lines = readline.createInterface({input: process.stdin});
lines.on('line', async (line) => {
  let command = {};
  try {
    command = JSON.parse(line);
    const handler = handlers[command.cmd];
    if (!handler) throw new Error(`unknown command ${command.cmd}`);
    send({id: command.id, result: (await handler(command)) ?? null});
  } catch (err) {
    send({id: command.id, error: firstLine(err)});
  }
});
lines.on('close', async () => {
  // Python went away without `quit`: never leave a Firefox behind.
  await browser.close().catch(() => {});
  process.exit(0);
});
