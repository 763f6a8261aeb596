import { describe, expect, test } from 'vitest';

import { usersServiceUrl } from '../api.js';

describe('usersServiceUrl', () => {
  test('is the page origin when VITE_USERS_SERVICE_URL is unset or empty', () => {
    expect(usersServiceUrl({})).toBe('');
    expect(usersServiceUrl({ VITE_USERS_SERVICE_URL: '' })).toBe('');
  });

  test('drops trailing slashes so paths join cleanly', () => {
    expect(usersServiceUrl({ VITE_USERS_SERVICE_URL: 'http://localhost/' })).toBe(
      'http://localhost',
    );
    expect(usersServiceUrl({ VITE_USERS_SERVICE_URL: 'http://127.0.0.1:5001' })).toBe(
      'http://127.0.0.1:5001',
    );
  });
});
