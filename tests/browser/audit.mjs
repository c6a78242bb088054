// The official GraphQL over HTTP audit (`serverAudits` of the npm package graphql-http) against
// the real server, with a bearer token on every request. Prints each audit that is not "ok".
// Usage: node audit.mjs API_URL TOKEN
import { serverAudits } from "graphql-http";

const [url, token] = process.argv.slice(2);
const fetchFn = (input, init = {}) =>
  fetch(input, { ...init, headers: { ...(init.headers ?? {}), Authorization: `Bearer ${token}` } });
const results = [];
for (const audit of serverAudits({ url, fetchFn })) {
  const result = await audit.fn();
  results.push({ name: audit.name, status: result.status, reason: result.reason ?? null });
}
console.log(JSON.stringify(results));
