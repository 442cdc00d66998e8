// Drives the dashboard in Debian's chromium (headless) with playwright-core, as a user would:
// logs in through the link `devarch watch` printed (the token in its fragment: the page keeps
// it in sessionStorage, no cookie is set, and the address bar loses it), adds an instance
// from the catalog, sees the plan diff, applies it, waits for the stack to turn Ready (and
// says since when), opens the instance's logs; edits the instance in the override editor (a
// problem shown at its field, the effective config beside it, saved); settles an ambiguous
// import of stack WIRED with the wiring picker; clones STACK as CLONE. Saves a screenshot of
// each main page into SHOTS. The page's Content-Security-Policy must block nothing it does;
// without the token, the page says to log in. Exits non-zero on any failure.
//
//   node dashboard.mjs LOGIN_LINK STACK TEMPLATE SHOTS WIRED CLONE
import { chromium } from "playwright-core";

const [link, stack, template, shots, wired, clone] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu"],
});
const step = (what) => console.log(`step: ${what}`);
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  // Whatever the page's Content-Security-Policy blocks is a failure.
  await context.addInitScript(() => {
    window.__cspViolations = [];
    document.addEventListener("securitypolicyviolation", (e) =>
      window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sample}`));
  });
  const page = await context.newPage();
  page.setDefaultTimeout(30000);
  step("log in through the link");
  await page.goto(link);
  await page.waitForURL((u) => u.pathname === "/");
  await page.locator("#conn", { hasText: "live" }).waitFor();
  if (page.url().includes("token")) throw new Error(`the token stayed in the address: ${page.url()}`);
  const cookies = await context.cookies();
  if (cookies.length) throw new Error(`cookies were set: ${JSON.stringify(cookies)}`);
  await page.screenshot({ path: `${shots}/overview.png` });

  step("add an instance from the catalog, by keyboard");
  await page.selectOption("#add-template", template);
  await page.fill("#add-stack", stack);
  await page.fill("#add-name", "app");
  await page.press("#add-name", "Enter");
  await page.locator("#add-result", { hasText: `added app to ${stack}` }).waitFor();

  step("see the plan diff");
  await page.locator("#plan-section").waitFor({ state: "visible" });
  await page.locator("#plan .add", { hasText: "app" }).waitFor();
  await page.screenshot({ path: `${shots}/plan.png` });

  step("apply, and watch the status turn Ready");
  // A plan can go stale while it is on screen (the controller's own pass holds the stack's
  // lock, or observes first): the page says so, and the user plans and applies again.
  for (let attempt = 1; ; attempt++) {
    await page.click("#apply");
    try {
      await page.locator("#apply-result", { hasText: "applied" }).waitFor({ timeout: 15000 });
      break;
    } catch (e) {
      const said = await page.textContent("#apply-result");
      console.log(`apply attempt ${attempt}: ${said}`);
      if (attempt === 3) throw e;
      await page.locator(`tr[data-stack="${stack}"] button`, { hasText: "Plan" }).click();
      await page.locator("#apply-result", { hasText: /^$/ }).waitFor();
    }
  }
  await page.locator(`tr[data-stack="${stack}"] td[data-status="Ready"]`).waitFor({ timeout: 60000 });

  step("the status says since when, read from the API's RFC 3339 time");
  const since = await page.getAttribute(`tr[data-stack="${stack}"] td[data-status="Ready"]`, "title");
  if (!since?.startsWith("since ") || !since.includes(String(new Date().getFullYear()))) {
    throw new Error(`the Ready cell's time is wrong: ${since}`);
  }

  step("open the stack and its logs");
  await page.locator(`tr[data-stack="${stack}"] button`, { hasText: "Open" }).click();
  await page.locator("#instances button", { hasText: "Logs of app" }).click();
  await page.locator("#logs", { hasText: "hello from the dashboard test" }).waitFor();
  await page.screenshot({ path: `${shots}/stack-and-logs.png`, fullPage: true });

  step("the override editor: a problem at its field, then an edit saved");
  await page.locator("#instances button", { hasText: "Edit app" }).click();
  await page.locator("#editor-section").waitFor({ state: "visible" });
  await page.fill("#field-ports", "- {container: 99999}\n");
  await page.locator("#err-ports", { hasText: "error" }).waitFor();
  await page.locator("#field-ports[aria-invalid=true]").waitFor();
  await page.screenshot({ path: `${shots}/editor-problem.png`, fullPage: true });
  await page.fill("#field-ports", "");
  await page.fill("#field-env", "GREETING: hello from the editor\n");
  await page.locator("#effective", { hasText: "GREETING" }).waitFor();
  await page.locator("#field-ports:not([aria-invalid])").waitFor();
  await page.click("#editor-save");
  await page.locator("#editor-result", { hasText: "saved to" }).waitFor();
  await page.screenshot({ path: `${shots}/editor.png`, fullPage: true });

  step("the wiring picker settles an ambiguous import");
  await page.locator(`tr[data-stack="${wired}"] button`, { hasText: "Open" }).click();
  await page.locator("#wiring .ambiguous").waitFor();
  await page.selectOption("#wire-app-store", "two");
  await page.locator("#wiring button", { hasText: "Wire app.store" }).click();
  await page.locator("#wiring-result", { hasText: "wired app.store to two" }).waitFor();
  await page.locator("#wire-graph line").first().waitFor({ state: "attached" });
  await page.screenshot({ path: `${shots}/wiring.png`, fullPage: true });

  step("clone the stack, naming the copy in the prompt");
  page.once("dialog", (d) => d.accept(clone));
  await page.locator(`tr[data-stack="${stack}"] button`, { hasText: "Clone" }).click();
  await page.locator(`tr[data-stack="${clone}"]`).waitFor();

  step("disable the stack, confirming the dialog");
  page.once("dialog", (d) => d.accept());
  await page.locator(`tr[data-stack="${stack}"] button`, { hasText: "Disable" }).click();
  await page.locator(`tr[data-stack="${stack}"] button`, { hasText: "Enable" }).waitFor();

  step("a narrow window still shows the stacks");
  await page.setViewportSize({ width: 420, height: 800 });
  await page.locator(`tr[data-stack="${stack}"]`).waitFor();
  await page.screenshot({ path: `${shots}/narrow.png` });

  step("the Content-Security-Policy blocked nothing the page did");
  const violations = await page.evaluate(() => window.__cspViolations);
  if (violations.length) throw new Error(`CSP violations: ${violations.join("; ")}`);

  step("without the token, the page asks to log in");
  const stranger = await browser.newPage();
  await stranger.goto(new URL("/", link).href);
  await stranger.locator("#conn", { hasText: "not logged in" }).waitFor();
  if (await stranger.locator("#stacks tr").count()) throw new Error("stacks shown without the token");
  console.log("ok");
} finally {
  await browser.close();
}
