// The development mailbox page: lists /dev/mail/messages, links clickable.
import { h } from './dom.js';

function linkify(text) {
  const parts = [];
  let last = 0;
  for (const match of text.matchAll(/https?:\/\/[^\s"'<>)]+/g)) {
    parts.push(text.slice(last, match.index));
    parts.push(h('a', { href: match[0] }, match[0]));
    last = match.index + match[0].length;
  }
  parts.push(text.slice(last));
  return parts;
}

async function load() {
  const box = document.getElementById('mails');
  const response = await fetch('/dev/mail/messages', { headers: { Accept: 'application/json' } });
  const mails = await response.json();
  if (!mails.length) {
    box.replaceChildren(h('p', {}, 'No mail yet.'));
    return;
  }
  box.replaceChildren(...mails.map((m) => h('article', { class: 'card mail' },
    h('h2', {}, m.subject || '(no subject)'),
    h('p', { class: 'muted' }, `To ${m.to || '?'} · ${m.date || ''} · ${m.file}`),
    m.links.length ? h('ul', { class: 'links' }, m.links.map((l) => h('li', {}, h('a', { href: l }, l)))) : null,
    h('pre', {}, linkify(m.text)))));
}

document.getElementById('reload').addEventListener('click', load);
load();
