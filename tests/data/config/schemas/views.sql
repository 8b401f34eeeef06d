CREATE OR REPLACE VIEW loans_by_grade AS SELECT grade, count(*) FROM loans GROUP BY grade;
