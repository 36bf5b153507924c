// Writes docs/screenshots/*.png: the main screens of the web app, in
// Chromium, against a seeded server. Run by `scripts/e2e.sh --screenshots`
// (CI does not).

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { start, ROOT, ADMIN } from './harness.js';

const OUT = join(ROOT, 'docs/screenshots');
mkdirSync(OUT, { recursive: true });
const PASSWORD = 'Toza-uy-parol-77';

const env = await start();
try {
  const users = await Promise.all(['aziza', 'javlon'].map((name) =>
    env.asAdmin('POST', '/users', { username: name, email: `${name}@example.uz`, password: PASSWORD, isVerified: true })));
  const services = (await env.asAdmin('GET', '/services?limit=10')).data;
  const soon = (days, hour) => new Date(Date.now() + days * 86_400_000 + hour * 3_600_000).toISOString();
  for (const [i, user] of users.entries()) {
    for (let j = 0; j < 2; j++) {
      await env.asAdmin('POST', '/orders', {
        serviceId: services[(i * 2 + j) % services.length].id, userId: user.id,
        scheduledAt: soon(j + 1, 9), address: ['Chilonzor 9, 12', 'Yunusobod 4, 7', 'Sergeli 8', 'Mirobod 2'][i * 2 + j],
        notes: j ? 'Kalit qo‘shnida.' : undefined,
      });
    }
  }
  // A visit is completed only once its time has come: one without a time (a request the
  // business scheduled by phone) can be completed now.
  const done = await env.asAdmin('POST', '/orders', { serviceId: services[0].id, userId: users[0].id, address: 'Olmazor 3' });
  await env.asAdmin('PATCH', `/orders/${done.id}`, { status: 'COMPLETED' });

  const shot = async (page, name) => {
    await page.waitForTimeout(200);
    await page.screenshot({ path: join(OUT, `${name}.png`), fullPage: false });
    console.log(`docs/screenshots/${name}.png`);
  };
  const ready = (page) => page.waitForSelector('body[data-ready="true"]');
  const login = async (page, email, password) => {
    await page.goto(`${env.base}/#/login`);
    await ready(page);
    await page.locator('input[name=email]').fill(email);
    await page.locator('input[name=password]').fill(password);
    await page.locator('#login button[type=submit]').click();
    await page.locator('#nav button').waitFor();
  };

  const desktop = await env.launch({ viewport: { width: 1200, height: 800 } });
  let page = desktop.pages()[0];
  await page.goto(`${env.base}/`);
  await ready(page);
  await page.locator('.cards .card').first().waitFor();
  await shot(page, 'catalogue');
  await page.goto(`${env.base}/#/signup`);
  await page.locator('input[name=username]').fill('nodira');
  await page.locator('input[name=email]').fill('nodira@example');
  await page.locator('input[name=password]').fill('parol');
  await page.locator('#signup button[type=submit]').click();
  await page.locator('.field-error:not(:empty)').first().waitFor();
  await shot(page, 'signup-errors');
  await login(page, users[0].email, PASSWORD);
  await page.goto(`${env.base}/#/book/${services[2].id}`);
  await page.locator('#book').waitFor();
  await shot(page, 'book');
  await page.goto(`${env.base}/#/orders`);
  await page.locator('[data-order]').first().waitFor();
  await shot(page, 'my-orders');
  await desktop.close();

  const admin = await env.launch({ viewport: { width: 1200, height: 800 } });
  page = admin.pages()[0];
  await login(page, ADMIN.email, ADMIN.password);
  await page.goto(`${env.base}/#/orders`);
  await page.locator('[data-order]').first().waitFor();
  await shot(page, 'admin-orders');
  await page.goto(`${env.base}/#/admin/services`);
  await page.locator('[data-service]').first().waitFor();
  await shot(page, 'admin-services');
  await page.goto(`${env.base}/#/admin/users`);
  await page.locator('[data-user]').first().waitFor();
  await shot(page, 'admin-users');
  await admin.close();

  for (const lang of ['ru', 'uz']) {
    const phone = await env.launch({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
    page = phone.pages()[0];
    await page.goto(`${env.base}/`);
    await ready(page);
    await page.locator('#lang').selectOption(lang);
    await page.locator('.cards .card').first().waitFor();
    await shot(page, `phone-catalogue-${lang}`);
    await phone.close();
  }
} finally {
  await env.stop();
}
