// The sample's chat page in headless Chromium (Debian's package, driven by
// playwright-core): two pages exchange a message and see each other
// online. Run by sample/sample_test.go, which passes SAMPLE_URL.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

const base = process.env.SAMPLE_URL;
if (!base) throw new Error("SAMPLE_URL is not set: run these tests through `go test ./sample`");

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
after(() => browser.close());

async function open(user, room) {
  const page = await (await browser.newContext()).newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(base);
  await page.fill("#user", user);
  await page.click("#login button");
  await page.waitForSelector(`#status.online`);
  await page.fill("#room", room);
  await page.click("#join button");
  await page.waitForSelector(`#online li[data-user="${user}"]`);
  return { page, errors };
}

test("two pages exchange a message and see each other online", async () => {
  const room = `browser${Date.now()}`;
  const ann = await open("ann", room);
  const bob = await open("bob", room);
  await ann.page.waitForSelector('#online li[data-user="bob"]');
  await bob.page.waitForSelector('#online li[data-user="ann"]');

  await ann.page.fill("#body", "hello from ann's page");
  await ann.page.press("#body", "Enter");
  const atBob = await bob.page.waitForSelector('#messages li:has-text("hello from ann\'s page")');
  assert.equal(await atBob.$eval(".who", (e) => e.textContent), "ann");
  await ann.page.waitForSelector('#messages li:has-text("hello from ann\'s page")');

  // bob types: ann sees it.
  await bob.page.type("#body", "hi");
  await ann.page.waitForSelector('#typing:has-text("bob is typing")');

  // bob leaves: ann's list drops him.
  await bob.page.close();
  await ann.page.waitForSelector('#online li[data-user="bob"]', { state: "detached" });
  assert.deepEqual(ann.errors, []);
  assert.deepEqual(bob.errors, []);
});
