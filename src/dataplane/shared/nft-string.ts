// Quoting of free text (comments, interface names) inside nft rule text.

/** A double-quoted nft string; quotes, backslashes and line breaks become "_" so the text stays inert. */
export function nftString(s: string): string {
  return `"${s.replace(/["\\\n\r]/g, '_')}"`;
}
