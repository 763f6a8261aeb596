import { render, screen } from '@testing-library/react';
import { expect, test } from 'vitest';

import AddUser from '../AddUser.jsx';

test('AddUser renders properly', () => {
  const { container } = render(<AddUser />);
  const inputs = container.querySelectorAll('form input');
  expect(inputs).toHaveLength(3);
  expect(inputs[0]).toHaveAttribute('name', 'username');
  expect(inputs[0]).toHaveAttribute('type', 'text');
  expect(inputs[1]).toHaveAttribute('name', 'email');
  expect(inputs[1]).toHaveAttribute('type', 'email');
  expect(inputs[2]).toHaveAttribute('type', 'submit');
});

test('AddUser renders a snapshot properly', () => {
  const { asFragment } = render(<AddUser />);
  expect(asFragment()).toMatchSnapshot();
});

test('AddUser labels its inputs', () => {
  render(<AddUser username="michael" email="michael@mherman.org" />);
  expect(screen.getByLabelText('Username')).toHaveValue('michael');
  expect(screen.getByLabelText('Email')).toHaveValue('michael@mherman.org');
  expect(screen.getByRole('button', { name: 'Submit' })).toBeEnabled();
});

test('AddUser disables the submit button while submitting', () => {
  render(<AddUser submitting />);
  expect(screen.getByRole('button', { name: 'Submit' })).toBeDisabled();
});
