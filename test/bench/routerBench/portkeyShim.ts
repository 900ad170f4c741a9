/**
 * Preloaded into the Portkey gateway process (`node --import`). Portkey 1.15.2 with the installed
 * @hono/node-server 1.19 fails every streamed chat completion with `TypeError: immutable` (it
 * appends its x-portkey-* headers to the upstream fetch Response's headers, whose guard is
 * immutable; https://github.com/Portkey-AI/gateway/issues/1389). Re-wrapping each upstream
 * response with copied (mutable) headers is the workaround; it costs Portkey one Response object
 * and one Headers copy per request, which is small beside what the gateway does per request.
 */
const originalFetch = globalThis.fetch;
globalThis.fetch = async (input, init) => {
  const res = await originalFetch(input, init);
  return new Response(res.body, { status: res.status, statusText: res.statusText, headers: new Headers(res.headers) });
};
