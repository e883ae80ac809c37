-- Adds :count users (usernames user<N>, emails user<N>@example.com, unusable passwords,
-- one in ten inactive) after the highest existing id, then refreshes the planner's
-- statistics. Used by `make seed-users N=…` and by the admin list benchmark.
INSERT INTO users (username, email, password, first_name, last_name, is_active, date_joined, password_changed_at)
SELECT 'user' || n,
       'user' || n || '@example.com',
       '!',
       'First' || (n % 997),
       'Last' || (n % 1009),
       n % 10 <> 0,
       now() - make_interval(mins => n::int),
       now()
FROM generate_series((SELECT coalesce(max(id), 0) FROM users) + 1,
                     (SELECT coalesce(max(id), 0) FROM users) + :count) AS n;
ANALYZE users;
