/** The one way the system hides a secret it logs: the password of a URL (`amqp://user:***@host`), of every URL in a comma-separated list. */
export function redactUrl(address: string): string {
  return address.replace(/\/\/([^:/@,]*):[^@/]*@/g, '//$1:***@');
}
