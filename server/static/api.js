// HTTP: sign-in and the JSON routes. The token lives in localStorage, so a
// sign-in holds in every tab of the browser (a replay or observer link opened
// in a new tab is signed in too); signing out in one tab ends it in all of
// them through the `storage` event (app.js). Two people on one laptop use two
// browser profiles or a private window.

const KEY = "courtroom.auth";

export const CONTROL_ROLES = new Set(["SUPER_ADMIN", "ADMIN", "JUDGE", "FACULTY"]);
export const ORGANISER_ROLES = new Set(["SUPER_ADMIN", "ADMIN", "FACULTY"]);

export const auth = {
  get() {
    try {
      const raw = localStorage.getItem(KEY);
      return raw ? JSON.parse(raw) : null;
    } catch {
      return null;
    }
  },
  set(value) {
    localStorage.setItem(KEY, JSON.stringify(value));
  },
  clear() {
    localStorage.removeItem(KEY);
  },
  key: KEY,
  get token() {
    const a = this.get();
    return a ? a.token : null;
  },
  get mayControl() {
    const a = this.get();
    return !!a && CONTROL_ROLES.has(a.role);
  },
  /** The organiser roles of the seeds: the live board of any tournament. */
  get mayOrganise() {
    const a = this.get();
    return !!a && ORGANISER_ROLES.has(a.role);
  },
  /** Who edits schedules (the scheduling routes' editors). */
  get maySchedule() {
    const a = this.get();
    return !!a && (a.role === "ADMIN" || a.role === "SUPER_ADMIN");
  },
};

export class ApiError extends Error {
  constructor(status, code, detail) {
    super(typeof detail === "string" ? detail : detail ? JSON.stringify(detail) : `HTTP ${status}`);
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.body = null; // the whole error body (scheduling refusals carry `violations`)
  }
}

/** Call a JSON route. `json` or `form` is the body; the signed-in token goes along. */
export async function api(method, path, { json, form, signedIn = true, raw = false } = {}) {
  const headers = { Accept: "application/json" };
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = new URLSearchParams(form);
  }
  const token = signedIn ? auth.token : null;
  if (token) headers.Authorization = `Bearer ${token}`;
  let res;
  try {
    res = await fetch(path, { method, headers, body });
  } catch (err) {
    throw new ApiError(0, "unavailable", `the server cannot be reached (${err.message})`);
  }
  if (raw && res.ok) return res;
  let data = null;
  const text = await res.text();
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = text;
  }
  if (!res.ok) {
    if (res.status === 401 && token) {
      auth.clear();
      window.dispatchEvent(new CustomEvent("courtroom:signed-out"));
    }
    const detail = data && typeof data === "object" && "detail" in data ? data.detail : data;
    const error = new ApiError(res.status, data && data.code, detail || res.statusText);
    error.body = data;
    throw error;
  }
  return data;
}

/** POST /api/auth/login (form fields), then GET /api/auth/me; keeps the result. */
export async function signIn(username, password) {
  const t = await api("POST", "/api/auth/login", { form: { username, password }, signedIn: false });
  auth.set({ token: t.access_token, user_id: String(t.user_id), role: t.role, username, name: username });
  try {
    const me = await api("GET", "/api/auth/me");
    auth.set({ token: t.access_token, user_id: String(me.user_id), role: me.role, username: me.username, name: me.name || me.username });
  } catch {
    /* the token works; the name is a nicety */
  }
  return auth.get();
}

export function signOut() {
  auth.clear();
}

/** The WebSocket URL of a session, on this page's host. */
export function socketUrl(sessionId) {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  return `${proto}//${location.host}/ws/sessions/${encodeURIComponent(sessionId)}`;
}
