//! One hand-written schema for both backends: only column types that
//! `MultiConnection` supports (no `Timestamptz`; UTC is stored in `Timestamp`).

diesel::table! {
    users (id) {
        id -> BigInt,
        email -> Text,
        name -> Text,
        role -> Text,
        password_hash -> Text,
        active -> Bool,
        token_generation -> BigInt,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    customers (id) {
        id -> BigInt,
        kind -> Text,
        name -> Text,
        company -> Nullable<Text>,
        email -> Nullable<Text>,
        phone -> Nullable<Text>,
        address -> Nullable<Text>,
        region -> Nullable<Text>,
        birthday -> Nullable<Date>,
        gender -> Nullable<Text>,
        age_band -> Nullable<Text>,
        income_band -> Nullable<Text>,
        occupation -> Nullable<Text>,
        education -> Nullable<Text>,
        industry -> Nullable<Text>,
        products -> Nullable<Text>,
        employees -> Nullable<BigInt>,
        annual_revenue_cents -> Nullable<BigInt>,
        owner_id -> BigInt,
        external_id -> Nullable<Text>,
        acquisition_source -> Nullable<Text>,
        source_customer_id -> Nullable<BigInt>,
        personality_type -> Nullable<Text>,
        social_style -> Nullable<Text>,
        funnel_stage -> Text,
        prospect_grade -> Nullable<Text>,
        wallet_size_cents -> Nullable<BigInt>,
        currency -> Text,
        notes -> Nullable<Text>,
        search_text -> Text,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        archived_at -> Nullable<Timestamp>,
        last_contact_at -> Nullable<Timestamp>,
        purchase_count -> BigInt,
        first_purchase_at -> Nullable<Timestamp>,
        last_purchase_at -> Nullable<Timestamp>,
        lifetime_revenue_cents -> BigInt,
        lifetime_profit_cents -> BigInt,
        revenue_12m_cents -> BigInt,
        profit_12m_cents -> BigInt,
        open_complaints -> BigInt,
        stats_at -> Nullable<Timestamp>,
        cpr_stage -> Text,
        cpr_pinned -> Bool,
        cpr_pin_reason -> Nullable<Text>,
        cpr_since -> Nullable<Timestamp>,
        share_of_wallet -> Nullable<Double>,
        cpr_revenue_window_cents -> BigInt,
        cpr_window_months -> Nullable<Integer>,
        tier_profit_cents -> BigInt,
        satisfaction_overall -> Nullable<Double>,
        satisfaction_product -> Nullable<Double>,
        satisfaction_service -> Nullable<Double>,
        satisfaction_social -> Nullable<Double>,
        satisfaction_at -> Nullable<Timestamp>,
        loyalty_type -> Text,
        churned_at -> Nullable<Timestamp>,
        churn_reason -> Nullable<Text>,
    }
}

diesel::table! {
    customer_tags (customer_id, tag) {
        customer_id -> BigInt,
        tag -> Text,
    }
}

diesel::table! {
    contacts (id) {
        id -> BigInt,
        customer_id -> BigInt,
        name -> Text,
        role -> Text,
        title -> Nullable<Text>,
        email -> Nullable<Text>,
        phone -> Nullable<Text>,
        notes -> Nullable<Text>,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::joinable!(customers -> users (owner_id));
diesel::joinable!(contacts -> customers (customer_id));
diesel::joinable!(customer_tags -> customers (customer_id));

diesel::table! {
    /// The tier of each customer above `small` (no row: `small`).
    customer_tiers (customer_id) {
        customer_id -> BigInt,
        tier -> Text,
    }
}

diesel::joinable!(customer_tiers -> customers (customer_id));

diesel::table! {
    interactions (id) {
        id -> BigInt,
        customer_id -> BigInt,
        #[sql_name = "type"]
        kind -> Text,
        occurred_at -> Timestamp,
        user_id -> BigInt,
        channel -> Nullable<Text>,
        summary -> Text,
        outcome -> Nullable<Text>,
        follow_up_at -> Nullable<Timestamp>,
        follow_up_done_at -> Nullable<Timestamp>,
        complaint_status -> Nullable<Text>,
        resolved_at -> Nullable<Timestamp>,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    transactions (id) {
        id -> BigInt,
        customer_id -> BigInt,
        occurred_at -> Timestamp,
        amount_cents -> BigInt,
        cost_cents -> BigInt,
        currency -> Text,
        product -> Text,
        external_id -> Nullable<Text>,
        notes -> Nullable<Text>,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    needs (id) {
        id -> BigInt,
        customer_id -> BigInt,
        kind -> Text,
        latent_type -> Nullable<Text>,
        description -> Text,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    customer_events (id) {
        id -> BigInt,
        customer_id -> BigInt,
        kind -> Text,
        from_value -> Nullable<Text>,
        to_value -> Nullable<Text>,
        subject_id -> Nullable<BigInt>,
        reason -> Nullable<Text>,
        user_id -> Nullable<BigInt>,
        at -> Timestamp,
    }
}

diesel::table! {
    settings (name) {
        name -> Text,
        value -> Text,
        version -> BigInt,
        updated_at -> Timestamp,
        updated_by -> Nullable<BigInt>,
    }
}

diesel::table! {
    segments (id) {
        id -> BigInt,
        name -> Text,
        kind -> Text,
        rule -> Nullable<Text>,
        description -> Nullable<Text>,
        builtin -> Bool,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    segment_members (segment_id, customer_id) {
        segment_id -> BigInt,
        customer_id -> BigInt,
        added_at -> Timestamp,
    }
}

diesel::joinable!(segment_members -> segments (segment_id));
diesel::joinable!(segment_members -> customers (customer_id));
diesel::joinable!(interactions -> customers (customer_id));
diesel::joinable!(transactions -> customers (customer_id));
diesel::joinable!(needs -> customers (customer_id));
diesel::joinable!(customer_events -> customers (customer_id));
diesel::allow_tables_to_appear_in_same_query!(
    users,
    customers,
    interactions,
    transactions,
    needs,
    customer_events,
    customer_tags,
    customer_tiers,
    contacts,
    settings,
    segments,
    segment_members,
    churn_records,
    account_plans,
    account_plan_actions,
    surveys,
    survey_questions,
    survey_responses,
    survey_answers,
    survey_panel
);

diesel::table! {
    churn_records (id) {
        id -> BigInt,
        customer_id -> BigInt,
        reason -> Text,
        note -> Nullable<Text>,
        churned_at -> Timestamp,
        churned_by -> Nullable<BigInt>,
        lost_revenue_cents -> BigInt,
        reactivated_at -> Nullable<Timestamp>,
        reactivated_by -> Nullable<BigInt>,
        reactivation_note -> Nullable<Text>,
        owner_id -> Nullable<BigInt>,
        reactivated_by_transaction_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    account_plans (id) {
        id -> BigInt,
        customer_id -> BigInt,
        objective -> Text,
        period_start -> Date,
        period_end -> Date,
        budget_cents -> BigInt,
        status -> Text,
        created_by -> Nullable<BigInt>,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        closed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    account_plan_actions (id) {
        id -> BigInt,
        plan_id -> BigInt,
        kind -> Text,
        description -> Nullable<Text>,
        owner_id -> BigInt,
        due_date -> Date,
        status -> Text,
        cost_cents -> BigInt,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    surveys (id) {
        id -> BigInt,
        title -> Text,
        description -> Nullable<Text>,
        status -> Text,
        segment_id -> Nullable<BigInt>,
        allow_multiple_responses -> Bool,
        opened_at -> Nullable<Timestamp>,
        closed_at -> Nullable<Timestamp>,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        panel_frozen_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    survey_panel (survey_id, customer_id) {
        survey_id -> BigInt,
        customer_id -> BigInt,
    }
}

diesel::joinable!(churn_records -> customers (customer_id));
diesel::joinable!(account_plans -> customers (customer_id));
diesel::joinable!(account_plan_actions -> account_plans (plan_id));
diesel::table! {
    survey_questions (id) {
        id -> BigInt,
        survey_id -> BigInt,
        position -> BigInt,
        kind -> Text,
        text -> Text,
        dimension -> Nullable<Text>,
        options -> Nullable<Text>,
        required -> Bool,
    }
}

diesel::table! {
    survey_responses (id) {
        id -> BigInt,
        survey_id -> BigInt,
        customer_id -> BigInt,
        user_id -> Nullable<BigInt>,
        submitted_at -> Timestamp,
    }
}

diesel::table! {
    survey_answers (id) {
        id -> BigInt,
        response_id -> BigInt,
        survey_id -> BigInt,
        question_id -> BigInt,
        kind -> Text,
        dimension -> Nullable<Text>,
        number -> Nullable<BigInt>,
        text -> Nullable<Text>,
    }
}

diesel::joinable!(survey_questions -> surveys (survey_id));
diesel::joinable!(survey_responses -> surveys (survey_id));
diesel::joinable!(survey_responses -> customers (customer_id));
diesel::joinable!(survey_answers -> survey_responses (response_id));

diesel::table! {
    changes (id) {
        id -> BigInt,
        seq -> Nullable<BigInt>,
        entity_type -> Text,
        entity_id -> BigInt,
        operation -> Text,
        version -> BigInt,
        at -> Timestamp,
        data -> Nullable<Text>,
    }
}

diesel::table! {
    change_type_purges (entity_type) {
        entity_type -> Text,
        purged_seq -> BigInt,
        purged_id -> BigInt,
    }
}

diesel::table! {
    change_counter (id) {
        id -> BigInt,
        last -> BigInt,
        purged_seq -> BigInt,
        purged_id -> BigInt,
    }
}

diesel::table! {
    webhooks (id) {
        id -> BigInt,
        url -> Text,
        events -> Text,
        secret -> Text,
        active -> Bool,
        description -> Nullable<Text>,
        cursor_seq -> BigInt,
        cursor_id -> BigInt,
        failures -> BigInt,
        next_attempt_at -> Nullable<Timestamp>,
        disabled_reason -> Nullable<Text>,
        lease_owner -> Nullable<Text>,
        lease_until -> Nullable<Timestamp>,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        replay_through_seq -> Nullable<BigInt>,
        replay_through_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> BigInt,
        webhook_id -> BigInt,
        change_id -> BigInt,
        event -> Text,
        attempt -> BigInt,
        outcome -> Text,
        http_status -> Nullable<BigInt>,
        error -> Nullable<Text>,
        duration_ms -> BigInt,
        at -> Timestamp,
    }
}

diesel::joinable!(webhook_deliveries -> webhooks (webhook_id));
diesel::allow_tables_to_appear_in_same_query!(webhooks, webhook_deliveries);

diesel::table! {
    idempotency_keys (user_id, idem_key) {
        user_id -> BigInt,
        idem_key -> Text,
        request_hash -> Text,
        status -> Nullable<Integer>,
        headers -> Text,
        body -> Text,
        created_at -> Timestamp,
        applied -> Bool,
        claim_token -> Nullable<Text>,
    }
}

diesel::table! {
    job_rounds (name) {
        name -> Text,
        started_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
        patron_version -> Text,
    }
}
