// Drives the real @arkyn/server collector against Kubeward (used by tests/test_arkyn_client.py).
//
// argv[2] is a JSON plan: {baseUrl, token, logToken, trafficSourceId, calls: [{method,
// endpoint, body?, urlParams?}]}. An ApiService call to the gateway makes the library's
// makeRequest send its own log to `${baseUrl}/ingest-log` (LogService.setConfig), exactly
// as an app using @arkyn/server does. Prints one JSON line: what the client read back.
import { ApiService, LogService } from "@arkyn/server";

const plan = JSON.parse(process.argv[2]);
LogService.setConfig({
  trafficSourceId: plan.trafficSourceId,
  userToken: plan.logToken,
  logBaseApiUrl: plan.baseUrl,
});
const api = new ApiService({ baseUrl: plan.baseUrl, baseToken: plan.token });
const results = [];
for (const call of plan.calls) {
  const data = { body: call.body, urlParams: call.urlParams };
  results.push(await api[call.method](call.endpoint, data));
}
process.stdout.write(JSON.stringify(results) + "\n");
// The library's logRequest is fire-and-forget: node exits once those posts are done.
