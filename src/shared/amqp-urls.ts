/**
 * AMQP_URL names one RabbitMQ node, or several nodes of one cluster separated by commas
 * (`amqp://u:p@a:5672/v,amqp://u:p@b:5672/v`). A comma inside a password is written %2C, as
 * URL encoding has it, so a comma always separates nodes.
 */
import { BadRequestError } from './errors.ts';
import { redactUrl } from './redact.ts';

/** The node URLs of an address, in order; a clear error naming the part that is not an AMQP URL. */
export function amqpUrlList(address: string): string[] {
  const urls = address
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '');
  if (urls.length === 0) throw new BadRequestError('the RabbitMQ address names no node (expected amqp://user:pass@host:port/vhost, or several separated by commas)');
  for (const url of urls) {
    let protocol: string;
    try {
      protocol = new URL(url).protocol;
    } catch {
      throw new BadRequestError(`"${redactUrl(url)}" in the RabbitMQ address is not a URL (expected amqp://user:pass@host:port/vhost)`);
    }
    if (protocol !== 'amqp:' && protocol !== 'amqps:') {
      throw new BadRequestError(`"${redactUrl(url)}" in the RabbitMQ address must start with amqp:// or amqps://, not ${protocol}//`);
    }
  }
  return urls;
}
