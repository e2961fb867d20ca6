-- Satisfaction surveys (DOMAIN.md §8): a survey, its ordered questions, the
-- responses (one customer each) and their answers.
CREATE TABLE surveys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    title TEXT NOT NULL,
    description TEXT,
    status TEXT NOT NULL DEFAULT 'draft',
    segment_id BIGINT REFERENCES segments(id) ON DELETE SET NULL,
    allow_multiple_responses BOOLEAN NOT NULL DEFAULT 0,
    opened_at TIMESTAMP,
    closed_at TIMESTAMP,
    version BIGINT NOT NULL DEFAULT 1,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX surveys_updated_at ON surveys (updated_at, id);

CREATE TABLE survey_questions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    survey_id BIGINT NOT NULL REFERENCES surveys(id) ON DELETE CASCADE,
    position BIGINT NOT NULL,
    kind TEXT NOT NULL,
    text TEXT NOT NULL,
    dimension TEXT,
    options TEXT,
    required BOOLEAN NOT NULL DEFAULT 0
);
CREATE INDEX survey_questions_survey ON survey_questions (survey_id, position);

CREATE TABLE survey_responses (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    survey_id BIGINT NOT NULL REFERENCES surveys(id) ON DELETE CASCADE,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    user_id BIGINT REFERENCES users(id),
    submitted_at TIMESTAMP NOT NULL
);
CREATE INDEX survey_responses_survey ON survey_responses (survey_id, submitted_at, id);
CREATE INDEX survey_responses_customer ON survey_responses (customer_id, survey_id);

-- One row per answered question; number answers (rating, nps) in `number`,
-- choice and text answers in `text`. `kind` and `dimension` are copied from
-- the question so results group without a join.
CREATE TABLE survey_answers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    response_id BIGINT NOT NULL REFERENCES survey_responses(id) ON DELETE CASCADE,
    survey_id BIGINT NOT NULL REFERENCES surveys(id) ON DELETE CASCADE,
    question_id BIGINT NOT NULL REFERENCES survey_questions(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    dimension TEXT,
    number BIGINT,
    text TEXT
);
CREATE INDEX survey_answers_response ON survey_answers (response_id);
CREATE INDEX survey_answers_survey ON survey_answers (survey_id, question_id);
