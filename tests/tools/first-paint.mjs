// Dashboard first paint, for benches/api.rs: opens the login link in Debian's headless
// chromium and prints, as JSON, the first contentful paint and the time until the stacks
// table holds a row (both in ms since navigation start).
//
//   node first-paint.mjs LOGIN_LINK
import { chromium } from "playwright-core";

const [link] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu"],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(link);
  await page.locator("#stacks tr").first().waitFor();
  const result = await page.evaluate(() => ({
    fcp: performance.getEntriesByName("first-contentful-paint")[0]?.startTime ?? null,
    rows: performance.now(),
  }));
  console.log(JSON.stringify(result));
} finally {
  await browser.close();
}
