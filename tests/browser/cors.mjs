// A real browser against the real server: a page on each of two origins calls the API with a
// bearer token (so the browser sends a preflight first). Prints what each page got, as JSON.
// Usage: node cors.mjs ALLOWED_PAGE OTHER_PAGE API_URL TOKEN
import { chromium } from "playwright-core";

const [allowedPage, otherPage, api, token] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  args: ["--no-sandbox", "--headless=new"],
});
const call = async (pageUrl) => {
  const page = await browser.newPage();
  await page.goto(pageUrl);
  const answer = await page.evaluate(
    async ({ api, token }) => {
      try {
        const query = '{ me { email role } kpis(period: { from: "2026-01-01", to: "2026-03-31" }) { periodStart mrr } }';
        const response = await fetch(api, {
          method: "POST",
          headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
          body: JSON.stringify({ query }),
        });
        return { status: response.status, requestId: response.headers.get("x-request-id"), body: await response.json() };
      } catch (error) {
        return { blocked: String(error) };
      }
    },
    { api, token },
  );
  await page.close();
  return answer;
};
try {
  console.log(JSON.stringify({ allowed: await call(allowedPage), other: await call(otherPage) }));
} finally {
  await browser.close();
}
