import { AREAS_FILE } from '../../harness/services/scenario-helpers.ts';
import { describe, expect, it } from 'vitest';
import { requireArea, toArea } from '../../src/services/rides/area.ts';
import { parseAreaNames, loadAreaNames } from '../../src/services/rides/area-names.ts';

describe('areas', () => {
  it.each([
    [1, 1],
    [198, 198],
    ['3', 3],
    ['198', 198],
    [3.0, 3],
  ])('accepts %j as area %i', (value, area) => {
    expect(toArea(value)).toBe(area);
  });

  it.each([0, 199, -1, 3.5, '0', '199', 'abc', '', ' 3', '3 ', '03', '+3', '3.0', '3e0', '0x3', null, true, [3], { area: 3 }, Number.NaN, Infinity, 1e39, '1234567890123456789012345678901234567890'])(
    'refuses %j',
    (value) => {
      expect(toArea(value)).toBeUndefined();
      expect(() => requireArea(value, 'source')).toThrow(/source: expected an area number 1\.\.198/);
    },
  );
});

describe('area names file', () => {
  it('reads the course CSV: 198 names keyed by number', async () => {
    const names = await loadAreaNames(AREAS_FILE);
    expect(names.size).toBe(198);
    expect(names.get(1)).toBe('Kempegowda Ward');
    expect(names.get(198)).toBe('Hemmigepura');
  });

  it('tolerates a byte-order mark, CRLF line ends, quotes and commas inside a name', () => {
    const names = parseAreaNames('\uFEFFArea No,Area Name\r\n1,"Ward, North"\r\n2,Plain\r\n\r\n');
    expect([...names]).toEqual([
      [1, 'Ward, North'],
      [2, 'Plain'],
    ]);
  });

  it('rejects a file without the header or with a bad line, naming the line', () => {
    expect(() => parseAreaNames('1,Ward\n')).toThrow(/header/);
    expect(() => parseAreaNames('Area No,Area Name\n1,Ward\n999,Nowhere\n', 'areas.csv')).toThrow(/areas\.csv:3/);
  });
});
