"""`meshplane console`: the mesh as a picture in a browser, served from loopback, talking to the App Mesh API.

How it is reached, and why so:
- The page is a static single-page app (`static/`, built from `web/`), served by this process
  on a loopback address only.  Nothing is fetched from elsewhere at run time.
- The browser never holds AWS credentials.  Every App Mesh call the page makes goes to this
  process (`/api/<App Mesh path>`), which signs it with the operator's own credentials
  (the standard chain, or `--profile`) through `meshplane.apiproxy.forward`: botocore's
  SigV4 signer, scoped to `execute-api`, exactly as `meshplane api-proxy` does.  So the
  deployed API keeps its IAM authorization: the console adds no anonymous entry to it,
  and a caller can do through the console only what the operator's own policy allows.
  Against `meshplane local up` on loopback, which checks no signature, calls go unsigned
  when no credentials are configured, as `meshplane import` does.
- Only what the page needs is relayed (`routes`): the App Mesh reads, `UpdateRoute`, and
  meshplane's own reads (policies, rollouts, proxy status and published config).  Any other
  path, and any other operation (a delete, a policy write, a rollout command), is refused
  here and never reaches the API.
- Other web pages open in the same browser must not drive the relay with the operator's
  credentials (cross-site request forgery), and a name that an attacker rebinds to
  127.0.0.1 must not make the page same-origin with theirs (DNS rebinding).  So (`guard`)
  every relayed call carries a random token that this process makes when it starts and
  prints in the URL's fragment (which the browser never sends nor puts in a Referer); the
  page sends it back in a custom header, which a cross-origin page cannot set without a
  CORS preflight that is never granted.  A relayed call whose `Origin` is not the console's
  own, or whose `Sec-Fetch-Site` is not `same-origin`, is refused, and every request must
  name the console's own loopback address in `Host`.
"""
