// The little markdown CDS cards use (GitHub flavour: paragraphs, "- " lists, **bold**, *italic*, `code`,
// [links](https://...), hard breaks and pipe tables), rendered as EHRs do. Everything is escaped first: a card
// is text from a service, never trusted HTML.
"use strict";

const Markdown = (() => {
  const escape = (text) =>
    text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

  function inline(text) {
    return escape(text)
      .replace(/`([^`]+)`/g, "<code>$1</code>")
      .replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>")
      .replace(/(^|[^*])\*([^*\s][^*]*)\*/g, "$1<em>$2</em>")
      .replace(/\[([^\]]+)\]\((https?:\/\/[^\s)]+)\)/g, '<a href="$2" target="_blank" rel="noopener noreferrer">$1</a>')
      .replace(/ {2}\n/g, "<br>")
      .replace(/\n/g, " ");
  }

  function table(lines) {
    const cells = (line) => line.replace(/^\||\|$/g, "").split("|").map((c) => inline(c.trim()));
    const head = cells(lines[0]).map((c) => `<th>${c}</th>`).join("");
    const body = lines
      .slice(2)
      .map((l) => `<tr>${cells(l).map((c) => `<td>${c}</td>`).join("")}</tr>`)
      .join("");
    return `<table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
  }

  function list(block) {
    // Items start with "- "; their continuation lines are indented.
    const items = block.split(/\n(?=- )/).map((item) => `<li>${inline(item.replace(/^- /, ""))}</li>`);
    return `<ul>${items.join("")}</ul>`;
  }

  function render(markdown) {
    return (markdown || "")
      .replace(/\r\n/g, "\n")
      .split(/\n{2,}/)
      .map((block) => {
        const lines = block.split("\n");
        if (lines.length > 1 && lines.every((l) => l.trim().startsWith("|")) && /^[|\s:-]+$/.test(lines[1])) {
          return table(lines);
        }
        if (block.startsWith("- ")) return list(block);
        const heading = block.match(/^(#{1,6}) (.*)$/);
        if (heading) return `<h4>${inline(heading[2])}</h4>`;
        return `<p>${inline(block)}</p>`;
      })
      .join("");
  }

  return { render, escape };
})();
