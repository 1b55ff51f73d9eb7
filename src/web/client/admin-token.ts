/** The operator token lives in sessionStorage only (gone when the tab closes) and is sent as a bearer token. */
const KEY = 'settle.adminToken';

export function getAdminToken(): string | null {
  return sessionStorage.getItem(KEY);
}

export function setAdminToken(token: string): void {
  sessionStorage.setItem(KEY, token);
}

export function clearAdminToken(): void {
  sessionStorage.removeItem(KEY);
}

export function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}
