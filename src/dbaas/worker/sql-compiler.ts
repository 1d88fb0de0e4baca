/**
 * Turns a validated structured request into one parameterised SQL statement. Table and column
 * names come only from TABLES (the request was checked against it); every value is a bound
 * parameter, so no request text ever becomes SQL.
 */
import type { Comparison, InsertWrite, ReadQuery, Value, Where, Write } from '../protocol/queries.ts';
import { CLEAR_ORDER, TABLES } from '../protocol/tables.ts';

export interface CompiledStatement {
  sql: string;
  params: Value[];
}

const OPERATORS: Record<Exclude<Comparison, 'in'>, string> = {
  eq: '=',
  ne: '<>',
  gt: '>',
  gte: '>=',
  lt: '<',
  lte: '<=',
};

function quote(identifier: string): string {
  return `"${identifier}"`;
}

function compileWhere(where: Where | undefined, params: Value[]): string {
  if (!where) return '';
  const clauses: string[] = [];
  for (const [column, condition] of Object.entries(where)) {
    if (typeof condition !== 'object') {
      clauses.push(`${quote(column)} = ?`);
      params.push(condition);
      continue;
    }
    for (const [operator, operand] of Object.entries(condition)) {
      if (operand === undefined) continue;
      if (operator === 'in') {
        const values = operand as Value[];
        if (values.length === 0) {
          clauses.push('0');
          continue;
        }
        clauses.push(`${quote(column)} IN (${values.map(() => '?').join(', ')})`);
        params.push(...values);
        continue;
      }
      clauses.push(`${quote(column)} ${OPERATORS[operator as keyof typeof OPERATORS]} ?`);
      params.push(operand as Value);
    }
  }
  return clauses.length > 0 ? ` WHERE ${clauses.join(' AND ')}` : '';
}

export function compileRead(query: ReadQuery): CompiledStatement {
  const params: Value[] = [];
  const selected = query.count ? 'COUNT(*) AS "count"' : (query.columns ?? Object.keys(TABLES[query.table].columns)).map(quote).join(', ');
  let sql = `SELECT ${selected} FROM ${quote(query.table)}${compileWhere(query.where, params)}`;
  if (!query.count && query.orderBy && query.orderBy.length > 0) {
    sql += ` ORDER BY ${query.orderBy.map((order) => `${quote(order.column)} ${order.direction === 'desc' ? 'DESC' : 'ASC'}`).join(', ')}`;
  }
  if (!query.count && (query.limit !== undefined || query.offset !== undefined)) {
    sql += ' LIMIT ? OFFSET ?';
    params.push(query.limit ?? -1, query.offset ?? 0);
  }
  return { sql, params };
}

/** A clear is several statements (children first); every other write is one. */
export function compileWrite(write: Write): CompiledStatement[] {
  const params: Value[] = [];
  switch (write.op) {
    case 'clear':
      return CLEAR_ORDER.map((table) => ({ sql: `DELETE FROM ${quote(table)}`, params: [] }));
    case 'insert':
      return insertedRows(write).map((row) => {
        const columns = Object.keys(row);
        const sql = `INSERT INTO ${quote(write.table)} (${columns.map(quote).join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`;
        return { sql, params: Object.values(row) };
      });
    case 'update': {
      const assignments = Object.keys(write.values).map((column) => `${quote(column)} = ?`);
      params.push(...Object.values(write.values));
      const sql = `UPDATE ${quote(write.table)} SET ${assignments.join(', ')}${compileWhere(write.where, params)}`;
      return [{ sql, params }];
    }
    case 'delete':
      return [{ sql: `DELETE FROM ${quote(write.table)}${compileWhere(write.where, params)}`, params }];
  }
}

export function insertedRows(write: InsertWrite): Record<string, Value>[] {
  return write.rows ?? (write.values ? [write.values] : []);
}
