-- What PostgreSQL's log says of an error: when, which process, who, where, and the
-- SQLSTATE (%e). With the service role's own settings (roles.sh: the error's message
-- only, never its DETAIL or the statement), that is all it keeps of the service's
-- traffic: the message names the constraint, and no value, email or username, reaches
-- the log. ALTER SYSTEM writes it to the data volume, read at every start.
ALTER SYSTEM SET log_line_prefix = '%m [%p] %q%u@%d %e ';
