/** Copies every non-TypeScript file of `from` to the same place under `to`; returns them, relative to `from`. */
export function copyAssets(from: string, to: string): string[];
