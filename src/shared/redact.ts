/** The one way the system hides a secret it logs: the password of a URL (`amqp://user:***@host`). */
export function redactUrl(address: string): string {
  return address.replace(/\/\/([^:/@]*):[^@/]*@/, '//$1:***@');
}
