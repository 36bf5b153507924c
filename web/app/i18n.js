// The UI's languages: Uzbek (Latin), Russian and English, one message file
// each (messages.<lang>.json). The choice is kept in localStorage; a logged-in
// user's `locale` wins.

export const LANGUAGES = ['uz', 'ru', 'en'];
const NAMES = { uz: 'Oʻzbekcha', ru: 'Русский', en: 'English' };
const catalogs = {};
let current = 'uz';

export function languageName(lang) { return NAMES[lang]; }
export function language() { return current; }

function preferred() {
  const saved = localStorage.getItem('lang');
  if (LANGUAGES.includes(saved)) return saved;
  for (const tag of navigator.languages || []) {
    const lang = tag.slice(0, 2).toLowerCase();
    if (LANGUAGES.includes(lang)) return lang;
  }
  return 'uz';
}

async function load(lang) {
  if (!catalogs[lang]) {
    const base = new URL('./', import.meta.url);
    const response = await fetch(new URL(`messages.${lang}.json`, base));
    catalogs[lang] = await response.json();
  }
  return catalogs[lang];
}

/** Switches the language (and remembers it when `remember`). */
export async function setLanguage(lang, remember = true) {
  if (!LANGUAGES.includes(lang)) return;
  await load(lang);
  current = lang;
  document.documentElement.lang = lang;
  if (remember) localStorage.setItem('lang', lang);
}

export async function initLanguage() {
  await load('en');
  await setLanguage(preferred(), false);
}

/** The message `key` in the current language, `{name}` replaced from `vars`. */
export function t(key, vars = {}) {
  const text = (catalogs[current] && catalogs[current][key]) ?? (catalogs.en && catalogs.en[key]) ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

/** Whether a message exists (for optional translations, e.g. error codes). */
export function has(key) { return Boolean(catalogs[current] && key in catalogs[current]); }

const LOCALES = { uz: 'uz-Latn-UZ', ru: 'ru-RU', en: 'en-GB' };

/** A price in the smallest unit (tiyin) as so'm. */
export function money(amount) {
  const value = new Intl.NumberFormat(LOCALES[current], { maximumFractionDigits: 2 }).format(amount / 100);
  return t('money', { value });
}

export function dateTime(iso) {
  if (!iso) return '—';
  return new Intl.DateTimeFormat(LOCALES[current], { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(iso));
}
