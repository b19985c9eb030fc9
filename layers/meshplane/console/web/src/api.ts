// The page's only way out: calls to the console's relay (/api/<App Mesh path>), with this session's token.
// The console signs them with the operator's credentials; the page never sees any.  An error answer keeps the
// API's own words: its error type (x-amzn-ErrorType, as botocore reads it) and message, shown verbatim.

export const TOKEN_HEADER = "X-Meshplane-Console-Token";
const RELAY = "/api";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    readonly apiMessage: string,
  ) {
    super(`${type} (HTTP ${status}): ${apiMessage}`);
  }
}

export class Relay {
  constructor(private readonly token: string) {}

  get<T>(path: string): Promise<T> {
    return this.call<T>("GET", path);
  }

  put<T>(path: string, body: unknown): Promise<T> {
    return this.call<T>("PUT", path, body);
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { [TOKEN_HEADER]: this.token, Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response: Response;
    try {
      response = await fetch(RELAY + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "same-origin",
        cache: "no-store",
      });
    } catch (error) {
      throw new ApiError(0, "ConsoleUnreachable", `the console did not answer: ${String(error)}`);
    }
    const text = await response.text();
    if (!response.ok) throw errorOf(response, text);
    return (text ? JSON.parse(text) : {}) as T;
  }
}

function errorOf(response: Response, text: string): ApiError {
  const type = (response.headers.get("x-amzn-ErrorType") ?? "").split(":")[0] || `HTTP${response.status}`;
  let message = text;
  try {
    const parsed = JSON.parse(text) as { message?: unknown; Message?: unknown };
    const found = parsed.message ?? parsed.Message;
    if (typeof found === "string") message = found;
  } catch {
    // not JSON: the text itself is the message
  }
  return new ApiError(response.status, type, message);
}

export function segment(name: string): string {
  return encodeURIComponent(name);
}
