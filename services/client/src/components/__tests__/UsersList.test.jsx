import { render, screen } from '@testing-library/react';
import { expect, test } from 'vitest';

import UsersList from '../UsersList.jsx';

const users = [
  { active: true, email: 'hermanmu@gmail.com', id: 1, username: 'michael' },
  { active: true, email: 'michael@mherman.org', id: 2, username: 'michaelherman' },
];

test('UsersList renders properly', () => {
  render(<UsersList users={users} />);
  const cards = screen.getAllByRole('heading', { level: 4 });
  expect(cards).toHaveLength(2);
  expect(cards[0]).toHaveClass('card card-body bg-light', { exact: true });
  expect(cards[0]).toHaveTextContent(/^michael$/);
  expect(cards[1]).toHaveTextContent(/^michaelherman$/);
});

test('UsersList renders a snapshot properly', () => {
  const { asFragment } = render(<UsersList users={users} />);
  expect(asFragment()).toMatchSnapshot();
});
