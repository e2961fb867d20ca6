//! The code lists served under `/api/v1/reference/{name}`: every enum value of the domain
//! with its English and Chinese label, a short description and, where the domain prescribes
//! one, the strategy a rep should follow. Plain data; the HTTP layer only serialises it.
//!
//! The codes and their order are part of the API contract (DOMAIN.md); the texts are the
//! project's own paraphrase of the Chinese source material in `shared/seeds/`.

/// One entry of a code list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeEntry {
    /// The API's value: `snake_case`, or a single capital letter for prospect grades.
    pub code: &'static str,
    pub label_en: &'static str,
    /// The Chinese term of DOMAIN.md, so that a concept can be traced to its source.
    pub label_zh: &'static str,
    /// One or two sentences, in English, on what the value means.
    pub description: &'static str,
    /// How to engage or manage, where the domain has a strategy for it.
    pub strategy: Option<Strategy>,
}

/// How a rep should engage or manage a customer in a given situation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Strategy {
    /// `S`, `V` or `B` for the CPR stages; `None` elsewhere.
    pub code: Option<&'static str>,
    pub name: &'static str,
    pub summary: &'static str,
    /// Concrete actions a rep can take, 3 to 6 of them.
    pub actions: &'static [&'static str],
}

/// The names of the lists, as they appear in the URL: `/api/v1/reference/{name}`.
pub const LIST_NAMES: &[&str] = &[
    "personality-types",
    "social-styles",
    "acquisition-sources",
    "latent-need-types",
    "funnel-stages",
    "prospect-grades",
    "cpr-stages",
    "tiers",
    "satisfaction-levels",
    "satisfaction-dimensions",
    "loyalty-types",
    "churn-reasons",
    "interaction-types",
    "contact-roles",
    "customer-kinds",
    "account-plan-actions",
    "genders",
];

/// The list with that URL name, or `None`.
pub fn list(name: &str) -> Option<&'static [CodeEntry]> {
    let entries: &'static [CodeEntry] = match name {
        "personality-types" => PERSONALITY_TYPES,
        "social-styles" => SOCIAL_STYLES,
        "acquisition-sources" => ACQUISITION_SOURCES,
        "latent-need-types" => LATENT_NEED_TYPES,
        "funnel-stages" => FUNNEL_STAGES,
        "prospect-grades" => PROSPECT_GRADES,
        "cpr-stages" => CPR_STAGES,
        "tiers" => TIERS,
        "satisfaction-levels" => SATISFACTION_LEVELS,
        "satisfaction-dimensions" => SATISFACTION_DIMENSIONS,
        "loyalty-types" => LOYALTY_TYPES,
        "churn-reasons" => CHURN_REASONS,
        "interaction-types" => INTERACTION_TYPES,
        "contact-roles" => CONTACT_ROLES,
        "customer-kinds" => CUSTOMER_KINDS,
        "account-plan-actions" => ACCOUNT_PLAN_ACTIONS,
        "genders" => GENDERS,
        _ => return None,
    };
    Some(entries)
}

/// The entry with that code in the named list, or `None` (codes are case-sensitive).
pub fn entry(list_name: &str, code: &str) -> Option<&'static CodeEntry> {
    list(list_name)?.iter().find(|e| e.code == code)
}

/// Whether `code` is a value of the named list; for validating input at the edge.
pub fn is_valid_code(list_name: &str, code: &str) -> bool {
    entry(list_name, code).is_some()
}

/// The response strategy (应对策略) for a personality type.
pub fn personality_strategy(code: &str) -> Option<&'static Strategy> {
    entry("personality-types", code)?.strategy.as_ref()
}

/// The strategy for a CPR stage: S, V or B, or prospecting for `not_started`.
pub fn cpr_strategy(stage_code: &str) -> Option<&'static Strategy> {
    entry("cpr-stages", stage_code)?.strategy.as_ref()
}

// 目标客户的类型和应对策略
static PERSONALITY_TYPES: &[CodeEntry] = &[
    CodeEntry {
        code: "rational",
        label_en: "Rational and composed",
        label_zh: "理智沉稳型",
        description: "Calm and deliberate: thinks everything through before deciding, asks detailed \
            questions about anything unclear and is not carried away by a rep's enthusiasm; \
            overselling only shows them where the weak points are.",
        strategy: Some(Strategy {
            code: None,
            name: "Steady, fact-based persuasion",
            summary: "Match their composure. Build the case patiently around what the deal \
                concretely does for them and support every claim with accurate, verifiable \
                evidence. Their understanding and trust are earned by a sound, well-reasoned \
                argument, never by energy or pressure.",
            actions: &[
                "Prepare a written comparison of benefits, costs and terms before the meeting.",
                "Answer each question fully and precisely; when unsure, say so, check and \
                 follow up in writing.",
                "Back claims with data, references, test results or case studies they can verify.",
                "Keep an even tone: no hype, superlatives or hard-sell tactics.",
                "Give them time to deliberate and agree on a concrete date for the decision.",
            ],
        }),
    },
    CodeEntry {
        code: "emotional",
        label_en: "Emotional and outspoken",
        label_zh: "情感直率型",
        description: "Excitable and direct, easily swayed by the atmosphere and by the rep's words \
            and manner; once their interest is sparked they make up their mind quickly.",
        strategy: Some(Strategy {
            code: None,
            name: "Warm enthusiasm, quick close",
            summary: "Bring warmth and energy, and be the one who takes the initiative: show \
                vividly what they stand to gain and help them decide while their interest is \
                high. If they do not buy this time, stay courteous and easy-going so that they \
                remember you favourably and come back.",
            actions: &[
                "Open with the most tangible benefit or saving, told through an example or a \
                 demonstration.",
                "Let them see, try or handle the product wherever possible.",
                "Propose a clear next step and ask for the decision while enthusiasm is high.",
                "Keep conditions and paperwork simple so friction does not cool the decision.",
                "If there is no sale, part on friendly terms and plan a light follow-up.",
            ],
        }),
    },
    CodeEntry {
        code: "reticent",
        label_en: "Reticent and reserved",
        label_zh: "沉默少言型",
        description: "Says little and weighs every word; looks serious, reacts coolly, reasons \
            things out in their own way and is slow to trust others.",
        strategy: Some(Strategy {
            code: None,
            name: "Concise, sincere, probing",
            summary: "Explain the offer clearly and in few words, and close the distance with a \
                friendly, sincere manner. Use careful questions and observation to find out what \
                really interests them and what they actually need, then address exactly that.",
            actions: &[
                "Present the offer briefly and in a clear structure; cut jargon and filler.",
                "Ask open questions and leave silences for them to fill instead of talking over them.",
                "Notice what catches their attention (a question, a document they pick up) and \
                 follow that thread.",
                "Show sincerity through reliability: keep every small promise and appointment.",
                "Once the real need is clear, present the one solution that fits it.",
            ],
        }),
    },
    CodeEntry {
        code: "sensitive",
        label_en: "Sensitive and anxious",
        label_zh: "神经敏感型",
        description: "Easily unsettled by their surroundings, expects the worst and takes rumours \
            at face value; unsure of their own judgement, knows little about our company and \
            needs help to decide.",
        strategy: Some(Strategy {
            code: None,
            name: "Careful, listen-first reassurance",
            summary: "Be careful in everything you say and do, and listen far more than you talk. \
                Let them study the material at their own pace. Only when they have come to trust \
                you, make the case with a few strong, concrete facts aimed at the point that \
                matters most to them.",
            actions: &[
                "Avoid pressure, deadlines and anything that could be read as a threat or a trick.",
                "Hear their worries out in full and acknowledge each one before answering it.",
                "Leave brochures, specifications and references they can review on their own.",
                "Introduce the company step by step: who we are, whom we serve, how we support \
                 customers.",
                "Once trust is there, persuade with a few strong, verifiable facts on the key point.",
            ],
        }),
    },
    CodeEntry {
        code: "arrogant",
        label_en: "Arrogant and self-important",
        label_zh: "傲气十足型",
        description: "Haughty and sure of their money or connections; tolerates no disagreement \
            and keeps ordinary reps at arm's length to underline their status.",
        strategy: Some(Strategy {
            code: None,
            name: "Respectful firmness",
            summary: "Hold your position calmly, neither servile nor defensive. Treat them with \
                visible respect and offer sincere praise at the right moments, for example for \
                their judgement, to build rapport; then look for the weak spot in their position \
                that opens the way for your proposal.",
            actions: &[
                "Show respect in the forms: punctuality, proper titles, well-prepared materials.",
                "Acknowledge their experience and good judgement sincerely and at the right time.",
                "Never argue head-on; restate your position calmly when challenged.",
                "Match their status: bring in a manager or executive when rank matters to them.",
                "Find their real concern or weak point and make it the opening for the proposal.",
            ],
        }),
    },
    CodeEntry {
        code: "indecisive",
        label_en: "Suspicious and indecisive",
        label_zh: "多疑寡断型",
        description: "Hesitant and distrustful: reluctant to commit and afraid of being cheated.",
        strategy: Some(Strategy {
            code: None,
            name: "Surface and resolve every doubt",
            summary: "Sincerely invite them to voice what worries them, and answer each doubt \
                patiently. Explain the offer in detail and show why we can be trusted (track \
                record, honours, certifications, service guarantees) until nothing is left \
                holding them back.",
            actions: &[
                "Ask directly what makes them hesitate and write down every objection.",
                "Answer the objections one at a time, patiently and with facts.",
                "Show credentials: company honours, certifications, reference customers.",
                "Put guarantees, trial or return terms and after-sale service in writing.",
                "Offer a small first order or a trial to lower the risk of the first decision.",
            ],
        }),
    },
];

// 四种性格: people- or task-oriented, outgoing or reserved.
static SOCIAL_STYLES: &[CodeEntry] = &[
    CodeEntry {
        code: "expressive",
        label_en: "Expressive",
        label_zh: "活泼型",
        description: "Outgoing and people-oriented: lively, talkative and fun, enjoys attention \
            and recognition, pays more attention to the big picture than to details.",
        strategy: Some(Strategy {
            code: None,
            name: "Keep it lively, give recognition",
            summary: "Make the conversation enjoyable, agree and praise where you honestly can, \
                and let them feel the decision is an achievement of theirs. Take care of the \
                details for them.",
            actions: &[
                "Keep meetings lively: stories, examples and testimonials rather than tables.",
                "Praise their ideas and successes sincerely.",
                "Frame the purchase as their accomplishment and give them credit for it.",
                "Confirm the details in writing afterwards; they will not remember them.",
            ],
        }),
    },
    CodeEntry {
        code: "amiable",
        label_en: "Amiable",
        label_zh: "和平型",
        description: "Reserved and people-oriented: easy-going, values harmony and relationships, \
            avoids conflict and risk, and decides slowly.",
        strategy: Some(Strategy {
            code: None,
            name: "Patient, no pressure, confident advice",
            summary: "Never rush them. Take the time to understand what they think and feel, \
                then recommend confidently: they welcome clear guidance from someone they trust.",
            actions: &[
                "Do not push for a quick decision; agree on a comfortable timeline.",
                "Ask how they see the situation and listen before proposing anything.",
                "Recommend one option clearly and explain why it is safe for them.",
                "Reassure them about risk with guarantees and the experience of similar customers.",
            ],
        }),
    },
    CodeEntry {
        code: "driver",
        label_en: "Driver",
        label_zh: "力量型",
        description:
            "Outgoing and task-oriented: decisive, results-driven, wants to be in control \
            and has little patience for small talk.",
        strategy: Some(Strategy {
            code: None,
            name: "Let them lead, go for the result",
            summary: "Let them feel in charge, stay relaxed and self-assured yourself, and keep \
                every exchange focused on the goal they want to reach.",
            actions: &[
                "Be brief and come to the point; respect their time.",
                "Offer options and let them choose rather than prescribing one answer.",
                "Talk about results, outcomes and return, not process.",
                "Stay calm and confident when they push; do not get defensive.",
            ],
        }),
    },
    CodeEntry {
        code: "analytical",
        label_en: "Analytical",
        label_zh: "分析型",
        description:
            "Reserved and task-oriented: precise, systematic and cautious; wants data and \
            proof before committing.",
        strategy: Some(Strategy {
            code: None,
            name: "Evidence, detail, expertise",
            summary: "Bring solid evidence and detailed information, and speak as an expert. \
                Accuracy matters more than enthusiasm, and they need time to check.",
            actions: &[
                "Provide specifications, data sheets and written proposals in advance.",
                "Support every claim with evidence: figures, tests, references.",
                "Use precise, professional language and admit what you do not know.",
                "Leave time for their analysis and answer follow-up questions in writing.",
            ],
        }),
    },
];

// 寻找目标客户的方法
static ACQUISITION_SOURCES: &[CodeEntry] = &[
    CodeEntry {
        code: "records_analysis",
        label_en: "Records analysis",
        label_zh: "客户资料整理法",
        description: "Found by sorting and analysing records we already hold (existing customers, \
            organizations that have dealt with us, participants in our PR events or market \
            surveys) and picking out those whose characteristics make them targets.",
        strategy: None,
    },
    CodeEntry {
        code: "cold_visit",
        label_en: "Cold visit",
        label_zh: "陌生拜访法",
        description: "Found by calling door to door, one by one, within an assigned territory or \
            area to identify organizations worth working with.",
        strategy: None,
    },
    CodeEntry {
        code: "directory_lookup",
        label_en: "Directory lookup",
        label_zh: "资料查阅法",
        description: "Found in published sources: business and legal-entity registers, product \
            catalogues, telephone yellow pages, statistical yearbooks, rosters of trade and \
            professional associations.",
        strategy: None,
    },
    CodeEntry {
        code: "chain_expansion",
        label_en: "Chain expansion",
        label_zh: "外部连锁式开拓法",
        description: "Found through an existing customer: while serving it, the rep learns about \
            its upstream and downstream partners and markets to them. The record links to the \
            existing customer it came through.",
        strategy: None,
    },
    CodeEntry {
        code: "event",
        label_en: "Event",
        label_zh: "活动寻找法",
        description: "Met in person through our own activities (public relations, market \
            research, promotions, technical support, after-sales service) that let us observe \
            and talk to customers directly.",
        strategy: None,
    },
    CodeEntry {
        code: "advertising",
        label_en: "Advertising",
        label_zh: "广告寻找法",
        description: "Came in response to our advertising, either by contacting us or by \
            answering a campaign.",
        strategy: None,
    },
    CodeEntry {
        code: "trade_show",
        label_en: "Trade show",
        label_zh: "展会寻找法",
        description: "Met face to face at an exhibition, trade fair or sales show.",
        strategy: None,
    },
    CodeEntry {
        code: "new_media",
        label_en: "New media",
        label_zh: "新媒体搜索法",
        description: "Reached through new media (WeChat, Weibo, mobile apps, e-commerce \
            platforms, search engines), where customers searching for a solution find our \
            products and services.",
        strategy: None,
    },
    CodeEntry {
        code: "referral",
        label_en: "Referral",
        label_zh: "转介绍",
        description: "Recommended to us by an existing customer (the \"hound plan\", 猎犬计划, \
            turns satisfied customers into scouts); referrals are the most reliable source of \
            good prospects. The record links to the referring customer.",
        strategy: None,
    },
];

// 潜在需求的类型
static LATENT_NEED_TYPES: &[CodeEntry] = &[
    CodeEntry {
        code: "insufficient_purchasing_power",
        label_en: "Insufficient purchasing power",
        label_zh: "购买力不足型",
        description: "The product exists and the customer wants it, but cannot afford it for the \
            time being, so the purchase stays latent; typical of expensive durables such as \
            housing or cars.",
        strategy: Some(Strategy {
            code: None,
            name: "Bridge the budget gap",
            summary: "The desire is already there: remove the financial barrier, or stay close \
                until it lifts so that we are the first choice the day the customer can buy.",
            actions: &[
                "Offer instalments, financing, leasing or a deposit scheme.",
                "Propose an entry-level configuration or a smaller first purchase.",
                "Record when the means are expected (budget cycle, bonus, funding) and set a \
                 follow-up for that date.",
                "Keep in touch with care touches and news so the intention does not fade.",
            ],
        }),
    },
    CodeEntry {
        code: "product_shortage",
        label_en: "Product shortage",
        label_zh: "适销商品短缺型",
        description: "The customer is ready to buy, but nothing on offer fits the need yet; as \
            soon as a suitable product appears, the purchase follows.",
        strategy: Some(Strategy {
            code: None,
            name: "Find or build the fitting product",
            summary: "Capture exactly what is missing, look for a fit in our range or a \
                customised variant, and tell the customer the moment a suitable product exists.",
            actions: &[
                "Write down the precise requirement the current products miss.",
                "Check adjacent products, options or a customised version that could meet it.",
                "Pass the requirement to product management as market feedback.",
                "Notify the customer first when a fitting product launches and offer a trial.",
            ],
        }),
    },
    CodeEntry {
        code: "unfamiliar_with_product",
        label_en: "Unfamiliar with the product",
        label_zh: "对商品不熟悉型",
        description: "The need lies dormant because the customer does not know the product well, \
            or does not know that it exists.",
        strategy: Some(Strategy {
            code: None,
            name: "Educate and demonstrate",
            summary: "Turn ignorance into familiarity: show what the product is, what it does for \
                someone like them and how others use it, until the need becomes conscious.",
            actions: &[
                "Give a demonstration, a sample or a free trial.",
                "Send brochures, new-product sheets and short explanatory content.",
                "Share case studies of similar customers and the results they got.",
                "Invite the customer to a seminar, showroom visit or exhibition.",
            ],
        }),
    },
    CodeEntry {
        code: "competitive_market",
        label_en: "Competitive market",
        label_zh: "市场竞争倾向型",
        description: "Many makers offer similar products and the customer has plenty of choice; \
            until a supplier is chosen, the need is only latent for any one company.",
        strategy: Some(Strategy {
            code: None,
            name: "Differentiate and win the choice",
            summary: "Make the choice easy: show clearly where we are better, lower the risk of \
                choosing us, and use the personal relationship to tip a close decision.",
            actions: &[
                "Prepare an honest comparison that highlights our distinctive advantages.",
                "Offer a trial order or a guarantee that makes choosing us low-risk.",
                "Bring references from customers who switched to us.",
                "Give a time-limited incentive to decide now rather than keep shopping.",
            ],
        }),
    },
];

// 大客户销售漏斗
static FUNNEL_STAGES: &[CodeEntry] = &[
    CodeEntry {
        code: "lead",
        label_en: "Lead",
        label_zh: "潜在客户",
        description: "Someone who might buy, identified but not yet qualified; the wide top of \
            the funnel.",
        strategy: None,
    },
    CodeEntry {
        code: "prospect",
        label_en: "Prospect",
        label_zh: "可能客户",
        description: "A lead that passed qualification: unattractive leads have been filtered \
            out, and a need and purchasing power are plausible. Prospects are graded A, B or C.",
        strategy: None,
    },
    CodeEntry {
        code: "ordinary",
        label_en: "Ordinary",
        label_zh: "普通客户",
        description: "A prospect with whom a working relationship has started (contact made, \
            needs being explored), not yet a focus of resources.",
        strategy: None,
    },
    CodeEntry {
        code: "key",
        label_en: "Key",
        label_zh: "重点客户",
        description: "A prospect worth concentrating resources on: large potential, an active \
            opportunity and access to the decision maker.",
        strategy: None,
    },
    CodeEntry {
        code: "won",
        label_en: "Won",
        label_zh: "已成交客户",
        description: "The deal is closed and the customer has bought; the account moves from \
            development to maintenance.",
        strategy: None,
    },
];

// 准客户分级
static PROSPECT_GRADES: &[CodeEntry] = &[
    CodeEntry {
        code: "A",
        label_en: "A: likely to close soon",
        label_zh: "A级准客户",
        description: "A high-quality prospect likely to close in the near term.",
        strategy: Some(Strategy {
            code: None,
            name: "Focus and close",
            summary: "Give A prospects the rep's first and best time: settle the open questions \
                with the decision maker and ask for the order.",
            actions: &[
                "Schedule a meeting with the decision maker within days.",
                "Prepare a concrete proposal and quotation tailored to the stated need.",
                "Resolve the remaining objections one by one.",
                "Ask for the order and agree on delivery and payment terms.",
            ],
        }),
    },
    CodeEntry {
        code: "B",
        label_en: "B: follow up and nurture",
        label_zh: "B级准客户",
        description: "A prospect who needs follow-up and nurturing; upgrade to A when the timing \
            is right.",
        strategy: Some(Strategy {
            code: None,
            name: "Follow up and nurture",
            summary: "Keep a regular rhythm of useful contact, deepen the knowledge of the need \
                and watch for the moment it becomes urgent, then regrade to A.",
            actions: &[
                "Set a follow-up date after every contact and keep to it.",
                "Complete a needs survey and record actual and latent needs.",
                "Send information relevant to their situation: new products, cases, offers.",
                "Watch for triggers (budget approval, contract expiry, complaints about the \
                 current supplier) and upgrade to A when one appears.",
            ],
        }),
    },
    CodeEntry {
        code: "C",
        label_en: "C: long-term cultivation",
        label_zh: "C级准客户",
        description: "Hard to close for now; to be cultivated patiently over the long term.",
        strategy: Some(Strategy {
            code: None,
            name: "Cultivate at low cost",
            summary: "Stay present without spending much rep time: low-cost, regular touches \
                and a periodic review of whether the situation has changed.",
            actions: &[
                "Add them to newsletters, holiday greetings and event invitations.",
                "Review the grade every few months and note any change in their situation.",
                "Keep the profile card current so the prospect is ready to pick up when it warms.",
            ],
        }),
    },
];

// 客户开发周期 (CPR) and its S-V-B strategies
static CPR_STAGES: &[CodeEntry] = &[
    CodeEntry {
        code: "not_started",
        label_en: "Not started",
        label_zh: "未开始",
        description: "No business with us yet: our share of the customer's wallet is zero, and \
            the customer buys from a competitor or not at all.",
        strategy: Some(Strategy {
            code: None,
            name: "Prospecting",
            summary: "Before the first trial, find and qualify the customer: learn who decides, \
                what they buy today and from whom, and earn the right to a first real \
                conversation that prepares conversion.",
            actions: &[
                "Complete the profile card: decision maker, handler, current supplier and the \
                 estimated wallet size.",
                "Grade the prospect A, B or C and plan follow-ups accordingly.",
                "Book a first meeting with an appointment call that gives a clear reason to meet.",
                "Survey the needs and record actual and latent needs.",
                "Ask existing customers for an introduction into the account.",
            ],
        }),
    },
    CodeEntry {
        code: "conversion",
        label_en: "Conversion",
        label_zh: "转换",
        description: "From no business to the first trial order (0 to 1): a competitor's \
            customer starts to doubt its supplier and tries us. The hardest threshold of the \
            cycle, where the rep's personal influence counts for more than product or brand.",
        strategy: Some(Strategy {
            code: Some("S"),
            name: "Sales marketing",
            summary: "Sell yourself before the product. When offers are alike and the customer \
                has no experience of us, they give the business to the rep they get along with: \
                build a personal, individual-to-individual (i-i) relationship with the person in \
                charge, and present the product's strengths through that relationship. Do not \
                spread effort; concentrate limited resources on one breakthrough point where our \
                strength meets an urgent need or the contact's own interests.",
            actions: &[
                "Visit the person in charge in person, or get introduced by a mutual contact or \
                 an existing customer.",
                "Learn the contact's priorities, working style and interests, and build rapport \
                 beyond the deal.",
                "Choose one breakthrough point, a pressing need that matches our clearest \
                 strength, and put the resources there.",
                "Ask for a small, low-risk trial order rather than a full switch.",
                "Keep the price sheet from deciding alone: show the service, reliability and \
                 references a quotation cannot show.",
            ],
        }),
    },
    CodeEntry {
        code: "penetration",
        label_en: "Penetration",
        label_zh: "渗透",
        description: "From a trial to most or all of the customer's volume (1 to 100). The \
            customer now weighs price, value and service and moves more volume to us, or falls \
            back to zero at the first slip. The decisive stage, with the highest investment \
            and risk.",
        strategy: Some(Strategy {
            code: Some("V"),
            name: "Value marketing",
            summary: "The customer's attention shifts from the rep to what we deliver, and they \
                must justify the choice to their own management. Win volume with the best value: \
                a lean cost structure and competitive prices, a clear edge in some segment or \
                service detail, and deliberate over-service of the newly converted customer, \
                since every flaw is looked for during the trial.",
            actions: &[
                "Give the new account most-favoured treatment: a dedicated follow-up person and \
                 a fast-response channel.",
                "Track every order end to end and report status and issues before being asked.",
                "Review price and total cost with the customer and show the savings against \
                 their previous supplier.",
                "Expand first where we are clearly best, segment by segment.",
                "Hold regular service-quality reviews and fix complaints at once.",
                "Watch share of wallet monthly and investigate any drop immediately.",
            ],
        }),
    },
    CodeEntry {
        code: "retention",
        label_en: "Retention",
        label_zh: "维系",
        description: "Most or all of the customer's business, kept over time with loyalty: the \
            harvest. Long cooperation and recognised service bring repeat purchases and natural \
            growth at high yield and low cost.",
        strategy: Some(Strategy {
            code: Some("B"),
            name: "Brand and relationship marketing",
            summary: "Protect and harvest. Keep the loyal customer loyal through trust in the \
                brand and a living relationship, keep service consistent so there is no reason \
                to look elsewhere, and turn their satisfaction into word of mouth and referrals.",
            actions: &[
                "Plan regular care touches: anniversaries, holidays, contacts' birthdays, \
                 new-product news.",
                "Survey satisfaction and act on low scores before they turn into churn.",
                "Ask for referrals and testimonials, and thank customers who refer.",
                "Offer loyalty terms: rebates, priority supply, early access to new products.",
                "Watch churn signals: long silence, falling share of wallet, owner change, open \
                 complaints.",
                "Keep periodic senior-level contact with the account.",
            ],
        }),
    },
];

// 客户分级: the customer pyramid
static TIERS: &[CodeEntry] = &[
    CodeEntry {
        code: "important",
        label_en: "Important",
        label_zh: "重要客户",
        description: "The top of the pyramid (about 1% of customers by profit contribution): few, \
            but the main source of profit. A key customer (关键客户) together with the \
            secondary tier.",
        strategy: Some(Strategy {
            code: None,
            name: "Concentrate resources, priority service",
            summary: "Give important customers the best service and the strongest resources: \
                priority, quality and preferential terms, a dedicated team, and a close, \
                senior-level relationship run through an account plan.",
            actions: &[
                "Run an account plan with a budget, actions, owners and an ROI evaluation.",
                "Assign a dedicated service team and a single point of contact.",
                "Handle their complaints first, fast and at a senior level.",
                "Guarantee supply in peak season and offer new products to them first.",
                "Arrange regular executive visits and invite them to the annual key-customer forum.",
            ],
        }),
    },
    CodeEntry {
        code: "secondary",
        label_en: "Secondary",
        label_zh: "次要客户",
        description: "The next tier (about 4% of customers): valuable accounts that, with the \
            important tier, form the key customers.",
        strategy: Some(Strategy {
            code: None,
            name: "Key-customer care, develop upward",
            summary: "Treat secondary customers as key customers, with priority service and \
                regular contact, and work to grow their share of wallet toward the important \
                tier.",
            actions: &[
                "Assign a named account owner with regular review meetings.",
                "Give priority handling of complaints and supply requests.",
                "Design joint promotions and incentive terms (discounts, rebates).",
                "Identify unmet needs and cross-sell to grow their volume.",
            ],
        }),
    },
    CodeEntry {
        code: "ordinary",
        label_en: "Ordinary",
        label_zh: "普通客户",
        description: "The next tier (about 15% of customers): steady buyers of modest value.",
        strategy: Some(Strategy {
            code: None,
            name: "Upgrade the promising, economise on the rest",
            summary: "For ordinary customers with upgrade potential, make a deliberate upgrade \
                plan that draws them into closer cooperation; for those without, reduce the cost \
                to serve while keeping service correct.",
            actions: &[
                "Flag customers with upgrade potential and give each an upgrade plan.",
                "Extend the product range offered to them or propose one-stop service.",
                "Encourage purchases of higher-value products or services.",
                "Serve customers without potential through lower-cost channels.",
            ],
        }),
    },
    CodeEntry {
        code: "small",
        label_en: "Small",
        label_zh: "小客户",
        description: "The base of the pyramid (the remaining ~80% of customers): many in number, \
            small in profit.",
        strategy: Some(Strategy {
            code: None,
            name: "Serve efficiently, cultivate potential",
            summary: "Serve small customers cheaply and efficiently without neglecting them \
                (neglect is itself a churn reason), and cultivate those who show potential to \
                grow.",
            actions: &[
                "Serve through low-cost channels: phone, messaging, self-service, group events.",
                "Keep a regular, light contact rhythm so none is forgotten.",
                "Spot small customers with growth potential and move them into an upgrade plan.",
                "Review persistently unprofitable accounts and adjust their terms.",
            ],
        }),
    },
];

// 客户满意度的五个级度
static SATISFACTION_LEVELS: &[CodeEntry] = &[
    CodeEntry {
        code: "very_dissatisfied",
        label_en: "Very dissatisfied",
        label_zh: "很不满意",
        description: "Score 1. Indignant and finding the experience intolerable: predicts a \
            complaint and negative word of mouth at every opportunity.",
        strategy: Some(Strategy {
            code: None,
            name: "Immediate service recovery",
            summary: "Treat the answer as an open complaint: reach the customer at once, fix \
                the cause, make amends and confirm that the customer is satisfied again.",
            actions: &[
                "Contact the customer within one business day, at a senior level.",
                "Log a complaint interaction and track it until resolved.",
                "Fix the problem and offer appropriate compensation.",
                "Follow up afterwards to confirm the customer is satisfied.",
            ],
        }),
    },
    CodeEntry {
        code: "dissatisfied",
        label_en: "Dissatisfied",
        label_zh: "不满意",
        description: "Score 2. Annoyed but still putting up with it and hoping for a remedy: \
            predicts a warning to friends and relatives not to buy.",
        strategy: Some(Strategy {
            code: None,
            name: "Make amends",
            summary: "Find out what went wrong, offer a remedy before the customer asks, and \
                check again later that the gap is closed.",
            actions: &[
                "Call to understand the reason for the score.",
                "Propose a concrete remedy and a date for it.",
                "Re-survey or follow up once the remedy is delivered.",
            ],
        }),
    },
    CodeEntry {
        code: "neutral",
        label_en: "Neutral",
        label_zh: "一般",
        description: "Score 3. No marked feeling either way: acceptable, neither good nor bad. \
            Predicts no word of mouth and little resistance to a competitor's offer.",
        strategy: Some(Strategy {
            code: None,
            name: "Find the missing extra",
            summary: "Ask what would make the experience better and deliver a visible \
                improvement; neutral customers are easy prey for competitors.",
            actions: &[
                "Ask what one thing would improve their experience.",
                "Deliver a visible improvement or a small added-value service.",
                "Add a care touch to the next contacts.",
            ],
        }),
    },
    CodeEntry {
        code: "satisfied",
        label_en: "Satisfied",
        label_zh: "满意",
        description: "Score 4. Pleased: expectations broadly met and the choice confirmed. \
            Predicts repeat purchase and willingness to recommend.",
        strategy: Some(Strategy {
            code: None,
            name: "Reinforce and ask for referrals",
            summary: "Thank the customer, keep the standard up and turn goodwill into referrals \
                and repeat business.",
            actions: &[
                "Thank the customer for the feedback.",
                "Ask for a referral or a testimonial.",
                "Offer loyalty terms on the next purchase.",
            ],
        }),
    },
    CodeEntry {
        code: "very_satisfied",
        label_en: "Very satisfied",
        label_zh: "很满意",
        description: "Score 5. Delighted and grateful: expectations met or exceeded. Predicts \
            active recommendation to others at every opportunity.",
        strategy: Some(Strategy {
            code: None,
            name: "Turn into an advocate",
            summary: "Give the customer ways to share their enthusiasm and recognise them for it.",
            actions: &[
                "Invite them to refer friends and partners, and thank every referral.",
                "Ask to feature them in a case study or as a reference customer.",
                "Invite them to customer events and forums.",
            ],
        }),
    },
];

// 客户满意的三个层次
static SATISFACTION_DIMENSIONS: &[CodeEntry] = &[
    CodeEntry {
        code: "product",
        label_en: "Product",
        label_zh: "产品满意",
        description: "Satisfaction with the product itself: intrinsic value, price, design, \
            packaging, timeliness. Product quality is the foundation of all satisfaction.",
        strategy: None,
    },
    CodeEntry {
        code: "service",
        label_en: "Service",
        label_zh: "服务满意",
        description: "Satisfaction with the service before, during and after the sale and over \
            the product's life: whether each step was designed around the customer's benefit \
            and convenience.",
        strategy: None,
    },
    CodeEntry {
        code: "social",
        label_en: "Social",
        label_zh: "社会满意",
        description: "The customer's sense that, in buying from us, the interests of society are \
            respected: the company's conduct contributes to social progress.",
        strategy: None,
    },
];

// 客户忠诚的类型: attitude (satisfaction) x behaviour (repeat purchase)
static LOYALTY_TYPES: &[CodeEntry] = &[
    CodeEntry {
        code: "high",
        label_en: "High loyalty",
        label_zh: "高度忠诚",
        description: "Positive attitude and frequent repeat purchases: the customer likes us and \
            keeps buying. The most valuable kind of customer.",
        strategy: Some(Strategy {
            code: None,
            name: "Reward and leverage",
            summary: "Never take them for granted: recognise their loyalty, keep the service \
                impeccable and use their goodwill for referrals.",
            actions: &[
                "Give loyalty recognition: preferential terms, early access, priority service.",
                "Ask for referrals and testimonials.",
                "Keep regular personal contact and thank them for their business.",
                "Involve them in product feedback and trials.",
            ],
        }),
    },
    CodeEntry {
        code: "latent",
        label_en: "Latent loyalty",
        label_zh: "隐形忠诚",
        description: "Positive attitude but few repeat purchases: the customer likes us, but \
            something (price, availability, channel, budget or circumstances) keeps them from \
            buying more.",
        strategy: Some(Strategy {
            code: None,
            name: "Remove the purchase barriers",
            summary: "The goodwill is there; find out what stops the customer from buying and \
                remove it.",
            actions: &[
                "Ask directly what prevents more frequent purchases.",
                "Make buying easier: availability, delivery, channels, payment terms.",
                "Send targeted offers and timely reminders when they are likely to need us.",
            ],
        }),
    },
    CodeEntry {
        code: "inertial",
        label_en: "Inertial loyalty",
        label_zh: "惯性忠诚",
        description: "Frequent repeat purchases but a weak attitude: the customer buys out of \
            habit or convenience, with no attachment, and will leave for a better offer.",
        strategy: Some(Strategy {
            code: None,
            name: "Build real attachment",
            summary: "Turn habit into preference before a competitor breaks the habit: raise \
                satisfaction, personalise the relationship and make our difference felt.",
            actions: &[
                "Survey satisfaction to find what they are indifferent or unhappy about.",
                "Add personal care touches and a named contact.",
                "Show the value they get from us compared with alternatives.",
                "Watch for competitor approaches and react quickly.",
            ],
        }),
    },
    CodeEntry {
        code: "none",
        label_en: "No loyalty",
        label_zh: "零度忠诚",
        description: "Weak attitude and few repeat purchases: no attachment and no habit; the \
            customer buys from us only occasionally, if at all.",
        strategy: Some(Strategy {
            code: None,
            name: "Reassess the relationship",
            summary: "Decide deliberately whether the customer is worth winning over; if so, \
                find the root cause and treat it as a new conversion, otherwise serve at low cost.",
            actions: &[
                "Check the customer's value and potential before investing.",
                "Find out why they are indifferent (need, price, experience, competitor).",
                "For promising customers, restart with a conversion approach.",
                "Otherwise move them to low-cost service.",
            ],
        }),
    },
    CodeEntry {
        code: "unknown",
        label_en: "Unknown",
        label_zh: "未知",
        description: "Not enough data to classify: no satisfaction answers yet (attitude \
            cannot be judged; a customer with answers but few purchases is `latent` or `none`).",
        strategy: Some(Strategy {
            code: None,
            name: "Gather the data",
            summary: "Loyalty can only be managed once it is measured: collect attitude and \
                purchase data first.",
            actions: &[
                "Send the customer a satisfaction survey.",
                "Make sure all transactions are recorded, including those from the ERP.",
                "Record every contact so purchase frequency and silence can be seen.",
            ],
        }),
    },
];

// 客户流失的原因
static CHURN_REASONS: &[CodeEntry] = &[
    CodeEntry {
        code: "staff_turnover",
        label_en: "Staff turnover",
        label_zh: "人员流动",
        description: "The customer left when one of our people did, typically the rep in charge \
            or a senior manager whose departure takes a whole group of customers along.",
        strategy: Some(Strategy {
            code: None,
            name: "Make relationships institutional",
            summary: "Tie the customer to the company, not to one person: complete records, more \
                than one point of contact and a prompt, personal handover when someone leaves. \
                To win back, have a senior manager and the new owner visit together.",
            actions: &[
                "Keep every profile card complete and current so a successor can take over.",
                "Give each key account at least two contacts on our side.",
                "When a rep leaves, have the successor call all their customers within days.",
                "Reassign a departed rep's accounts promptly: the at-risk list flags them (owner inactive) until they have a new owner.",
                "Win back with a visit by a senior manager and the new owner.",
            ],
        }),
    },
    CodeEntry {
        code: "competition",
        label_en: "Competition",
        label_zh: "对手竞争",
        description: "A competitor drew the customer away with a better offer, service or \
            relationship.",
        strategy: Some(Strategy {
            code: None,
            name: "Stay ahead of the rival",
            summary: "Know what competitors offer your customers, review the value you deliver \
                regularly and answer an approach before the customer switches. To win back, \
                address the exact reason the rival won.",
            actions: &[
                "Record competitor activity at each account.",
                "Hold regular value reviews with key customers.",
                "React quickly to a falling share of wallet with a matched or differentiated offer.",
                "Secure the relationship with agreements and loyalty terms.",
                "Win back with an offer that answers the reason for leaving.",
            ],
        }),
    },
    CodeEntry {
        code: "company_instability",
        label_en: "Company instability",
        label_zh: "企业波动",
        description: "The customer defected during a turbulent period of ours (a cash squeeze, \
            an accident or disaster, a reorganisation) when it sensed risk.",
        strategy: Some(Strategy {
            code: None,
            name: "Reassure through transparency",
            summary: "In a difficult period, communicate first and openly, guarantee continuity \
                to the customers who matter most and keep senior contact. Win back once stable, \
                with proof.",
            actions: &[
                "Inform key customers proactively before rumours reach them.",
                "Give written continuity guarantees on supply and service.",
                "Keep priority supply for key accounts during the disruption.",
                "Win back after stabilising, showing evidence of the recovery.",
            ],
        }),
    },
    CodeEntry {
        code: "neglected_details",
        label_en: "Neglected details",
        label_zh: "细节疏忽",
        description: "Small lapses (a forgotten follow-up, a missed greeting, a careless error) \
            frayed the personal bond that holds a customer as much as the business interest.",
        strategy: Some(Strategy {
            code: None,
            name: "Mind the details",
            summary: "The emotional bond is built and lost in small things: keep every follow-up, \
                keep the care calendar and correct mistakes fast. Win back with a personal \
                apology.",
            actions: &[
                "Set a follow-up date on every interaction and work the due list daily.",
                "Keep a care calendar: birthdays, holidays, anniversaries.",
                "Acknowledge and correct errors immediately.",
                "Win back with a personal apology and a concrete gesture.",
            ],
        }),
    },
    CodeEntry {
        code: "integrity",
        label_en: "Integrity",
        label_zh: "诚信问题",
        description: "We broke the customer's trust: a promise not kept, misleading claims or \
            hidden terms.",
        strategy: Some(Strategy {
            code: None,
            name: "Keep every promise",
            summary: "Promise only what can be delivered and put it in writing. Trust lost this \
                way is won back only by openly admitting the fault and repairing it.",
            actions: &[
                "Commit only to what operations confirm can be delivered.",
                "State terms and conditions clearly and in writing.",
                "Escalate any promise at risk before the date is missed.",
                "Win back by acknowledging the fault, correcting it and compensating.",
            ],
        }),
    },
    CodeEntry {
        code: "harsh_policies",
        label_en: "Harsh policies",
        label_zh: "店大欺客",
        description: "Demanding terms from a big supplier (quotas, payment conditions, penalties) \
            became too much for a small or mid-sized customer.",
        strategy: Some(Strategy {
            code: None,
            name: "Fair terms for every size",
            summary: "Check that policies do not crush the smaller customers, and give them a \
                voice. Win back with terms adjusted to their size.",
            actions: &[
                "Review quotas, payment terms and penalties for their effect on small customers.",
                "Offer flexible terms scaled to the customer's size.",
                "Listen to small customers' complaints about policy and escalate them.",
                "Win back with adjusted terms.",
            ],
        }),
    },
    CodeEntry {
        code: "unbalanced_attention",
        label_en: "Unbalanced attention",
        label_zh: "企业管理",
        description: "Management concentrated on the big customers (the 20% that bring 80% of \
            sales) and ignored the rest; small customers, left without attention or \
            promotions, felt slighted and left.",
        strategy: Some(Strategy {
            code: None,
            name: "Serve every tier deliberately",
            summary: "Give each tier a service model of its own, so that concentrating on key \
                customers never means forgetting the others. Win back with renewed, regular \
                attention.",
            actions: &[
                "Give each tier a defined, affordable service and contact rhythm.",
                "Include small customers in promotions and care actions.",
                "Watch small customers' silence on the at-risk list.",
                "Win back with a personal call and a place in the regular contact plan.",
            ],
        }),
    },
    CodeEntry {
        code: "natural",
        label_en: "Natural churn",
        label_zh: "自然流失",
        description: "Drifted away without a specific grievance: no contact for a long time, or \
            the customer changed business or closed.",
        strategy: Some(Strategy {
            code: None,
            name: "Keep in touch, accept true exits",
            summary: "Most natural churn comes from silence: keep a contact rhythm and react to \
                long gaps. Where the customer really changed business, close the record and \
                follow the contact to the new business if it fits.",
            actions: &[
                "Set a minimum contact frequency per tier.",
                "Act on \"no contact for N days\" alerts.",
                "Run a reactivation campaign for lapsed customers.",
                "Confirm whether the customer changed business, and follow the contact if so.",
            ],
        }),
    },
];

// 沟通方式: 走出去、请进来、利用通信工具
static INTERACTION_TYPES: &[CodeEntry] = &[
    CodeEntry {
        code: "visit",
        label_en: "Visit",
        label_zh: "走访客户",
        description: "A visit to the customer at their premises.",
        strategy: None,
    },
    CodeEntry {
        code: "meeting",
        label_en: "Meeting",
        label_zh: "客户会议",
        description: "A customer meeting: a scheduled discussion, review or forum with one or \
            more customers.",
        strategy: None,
    },
    CodeEntry {
        code: "call",
        label_en: "Call",
        label_zh: "电话",
        description: "A telephone conversation.",
        strategy: None,
    },
    CodeEntry {
        code: "email",
        label_en: "Email",
        label_zh: "电子邮件",
        description: "An email sent to or received from the customer.",
        strategy: None,
    },
    CodeEntry {
        code: "message",
        label_en: "Message",
        label_zh: "通讯工具",
        description: "A message through an instant-messaging tool or SMS (WeChat and the like).",
        strategy: None,
    },
    CodeEntry {
        code: "reception",
        label_en: "Reception",
        label_zh: "热情接待来访客户",
        description: "The customer came to us and was received: a visit to our office, \
            showroom or plant.",
        strategy: None,
    },
    CodeEntry {
        code: "appointment_call",
        label_en: "Appointment call",
        label_zh: "电话约访",
        description: "A call whose purpose is to book a meeting, so that visits are expected \
            and welcome.",
        strategy: None,
    },
    CodeEntry {
        code: "care",
        label_en: "Customer care",
        label_zh: "客户关怀",
        description: "A care action: a birthday gift, a holiday greeting, a mailed brochure or \
            new-product sheet, an invitation to an exhibition.",
        strategy: None,
    },
    CodeEntry {
        code: "complaint",
        label_en: "Complaint",
        label_zh: "投诉",
        description: "A complaint from the customer, tracked until it is resolved.",
        strategy: None,
    },
];

// 联系人信息
static CONTACT_ROLES: &[CodeEntry] = &[
    CodeEntry {
        code: "decision_maker",
        label_en: "Decision maker",
        label_zh: "决策人",
        description: "The person who decides on the purchase.",
        strategy: None,
    },
    CodeEntry {
        code: "handler",
        label_en: "Handler",
        label_zh: "经办人",
        description: "The person who handles the business day to day: orders, deliveries, \
            paperwork.",
        strategy: None,
    },
    CodeEntry {
        code: "other",
        label_en: "Other",
        label_zh: "其他",
        description: "Any other contact at the organization.",
        strategy: None,
    },
];

static CUSTOMER_KINDS: &[CodeEntry] = &[
    CodeEntry {
        code: "individual",
        label_en: "Individual",
        label_zh: "个人",
        description: "A private person buying for themself.",
        strategy: None,
    },
    CodeEntry {
        code: "organization",
        label_en: "Organization",
        label_zh: "企业",
        description: "A company or other organization, with contact people such as a decision \
            maker and a handler.",
        strategy: None,
    },
];

// 性别: the card's `gender`, as the customer states it (a frontend built its
// dropdown from a list of its own: a QA review).
static GENDERS: &[CodeEntry] = &[
    CodeEntry {
        code: "female",
        label_en: "Female",
        label_zh: "女",
        description: "The customer states female.",
        strategy: None,
    },
    CodeEntry {
        code: "male",
        label_en: "Male",
        label_zh: "男",
        description: "The customer states male.",
        strategy: None,
    },
    CodeEntry {
        code: "other",
        label_en: "Other",
        label_zh: "其他",
        description: "The customer states another gender.",
        strategy: None,
    },
    CodeEntry {
        code: "undisclosed",
        label_en: "Undisclosed",
        label_zh: "未透露",
        description: "The customer chose not to say.",
        strategy: None,
    },
];

// 重要客户管理的具体措施
static ACCOUNT_PLAN_ACTIONS: &[CodeEntry] = &[
    CodeEntry {
        code: "peak_supply",
        label_en: "Peak-season supply guarantee",
        label_zh: "旺季供货保障",
        description: "Reserve stock and delivery capacity so the key customer is served first in the peak season.",
        strategy: None,
    },
    CodeEntry {
        code: "new_product_trial",
        label_en: "New-product trial first",
        label_zh: "新产品优先试用",
        description: "The key customer tries new products before the market, and its feedback shapes the launch.",
        strategy: None,
    },
    CodeEntry {
        code: "executive_visit",
        label_en: "Executive visit",
        label_zh: "高层拜访",
        description: "A senior manager visits the customer's decision makers to strengthen the relationship at the top.",
        strategy: None,
    },
    CodeEntry {
        code: "joint_promotion",
        label_en: "Joint promotion design",
        label_zh: "共同设计促销方案",
        description: "Promotions designed together with the customer, fitted to its market and its own customers.",
        strategy: None,
    },
    CodeEntry {
        code: "incentive_policy",
        label_en: "Incentive policy",
        label_zh: "经济激励政策",
        description: "Discounts, rebates or sales contests that reward the customer's volume and loyalty.",
        strategy: None,
    },
    CodeEntry {
        code: "information_exchange",
        label_en: "Timely information exchange",
        label_zh: "及时信息沟通",
        description: "Regular, prompt sharing of market, product and order information in both directions.",
        strategy: None,
    },
    CodeEntry {
        code: "sales_feedback",
        label_en: "Feedback on our sales staff",
        label_zh: "征求对销售人员的意见",
        description: "Ask the customer how our sales staff serve it, and act on what it says.",
        strategy: None,
    },
    CodeEntry {
        code: "key_customer_forum",
        label_en: "Annual key-customer forum",
        label_zh: "年度重要客户座谈会",
        description: "A yearly meeting of key customers with our management to review the year and plan the next.",
        strategy: None,
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn all_lists() -> impl Iterator<Item = (&'static str, &'static [CodeEntry])> {
        LIST_NAMES
            .iter()
            .map(|name| (*name, list(name).unwrap_or_default()))
    }

    fn codes(name: &str) -> Vec<&'static str> {
        list(name)
            .unwrap_or_default()
            .iter()
            .map(|e| e.code)
            .collect()
    }

    fn is_snake_case(s: &str) -> bool {
        let mut chars = s.chars();
        chars.next().is_some_and(|c| c.is_ascii_lowercase())
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            && !s.ends_with('_')
            && !s.contains("__")
    }

    #[test]
    fn every_list_name_resolves_to_a_non_empty_list() {
        for name in LIST_NAMES {
            let entries = list(name);
            assert!(entries.is_some_and(|e| !e.is_empty()), "{name}");
        }
        assert!(list("nope").is_none());
    }

    #[test]
    fn list_names_are_unique_and_cover_the_contract() {
        let names: HashSet<_> = LIST_NAMES.iter().collect();
        assert_eq!(names.len(), LIST_NAMES.len());
        for name in [
            "personality-types",
            "social-styles",
            "acquisition-sources",
            "latent-need-types",
            "funnel-stages",
            "cpr-stages",
            "tiers",
            "satisfaction-levels",
            "loyalty-types",
            "churn-reasons",
            "interaction-types",
        ] {
            assert!(names.contains(&name), "{name}");
        }
    }

    #[test]
    fn codes_are_unique_within_each_list() {
        for (name, entries) in all_lists() {
            let unique: HashSet<_> = entries.iter().map(|e| e.code).collect();
            assert_eq!(unique.len(), entries.len(), "duplicate code in {name}");
        }
    }

    #[test]
    fn codes_are_snake_case_or_a_grade_letter() {
        for (name, entries) in all_lists() {
            for e in entries {
                let grade = name == "prospect-grades"
                    && e.code.len() == 1
                    && e.code.chars().all(|c| c.is_ascii_uppercase());
                assert!(grade || is_snake_case(e.code), "{name}: {}", e.code);
            }
        }
    }

    #[test]
    fn codes_match_the_contract_in_order() {
        assert_eq!(
            codes("personality-types"),
            [
                "rational",
                "emotional",
                "reticent",
                "sensitive",
                "arrogant",
                "indecisive"
            ]
        );
        assert_eq!(
            codes("social-styles"),
            ["expressive", "amiable", "driver", "analytical"]
        );
        assert_eq!(
            codes("acquisition-sources"),
            [
                "records_analysis",
                "cold_visit",
                "directory_lookup",
                "chain_expansion",
                "event",
                "advertising",
                "trade_show",
                "new_media",
                "referral"
            ]
        );
        assert_eq!(
            codes("latent-need-types"),
            [
                "insufficient_purchasing_power",
                "product_shortage",
                "unfamiliar_with_product",
                "competitive_market"
            ]
        );
        assert_eq!(
            codes("funnel-stages"),
            ["lead", "prospect", "ordinary", "key", "won"]
        );
        assert_eq!(codes("prospect-grades"), ["A", "B", "C"]);
        assert_eq!(
            codes("cpr-stages"),
            ["not_started", "conversion", "penetration", "retention"]
        );
        assert_eq!(
            codes("tiers"),
            ["important", "secondary", "ordinary", "small"]
        );
        assert_eq!(
            codes("satisfaction-levels"),
            [
                "very_dissatisfied",
                "dissatisfied",
                "neutral",
                "satisfied",
                "very_satisfied"
            ]
        );
        assert_eq!(
            codes("satisfaction-dimensions"),
            ["product", "service", "social"]
        );
        assert_eq!(
            codes("loyalty-types"),
            ["high", "latent", "inertial", "none", "unknown"]
        );
        assert_eq!(
            codes("churn-reasons"),
            [
                "staff_turnover",
                "competition",
                "company_instability",
                "neglected_details",
                "integrity",
                "harsh_policies",
                "unbalanced_attention",
                "natural"
            ]
        );
        assert_eq!(
            codes("interaction-types"),
            [
                "visit",
                "meeting",
                "call",
                "email",
                "message",
                "reception",
                "appointment_call",
                "care",
                "complaint"
            ]
        );
        assert_eq!(
            codes("contact-roles"),
            ["decision_maker", "handler", "other"]
        );
        assert_eq!(codes("customer-kinds"), ["individual", "organization"]);
        assert_eq!(codes("genders"), ["female", "male", "other", "undisclosed"]);
        use crate::domain::codes::Code;
        assert_eq!(codes("genders"), crate::domain::codes::Gender::CODES);
    }

    #[test]
    fn texts_are_filled_in() {
        for (name, entries) in all_lists() {
            for e in entries {
                assert!(!e.label_en.trim().is_empty(), "{name}/{}", e.code);
                assert!(
                    !e.label_zh.is_ascii(),
                    "{name}/{} needs a Chinese label",
                    e.code
                );
                assert!(!e.description.trim().is_empty(), "{name}/{}", e.code);
                if let Some(s) = &e.strategy {
                    assert!(!s.name.trim().is_empty(), "{name}/{}", e.code);
                    assert!(!s.summary.trim().is_empty(), "{name}/{}", e.code);
                    assert!(
                        (3..=6).contains(&s.actions.len()),
                        "{name}/{}: {} actions",
                        e.code,
                        s.actions.len()
                    );
                    assert!(s.actions.iter().all(|a| !a.trim().is_empty()));
                }
            }
        }
    }

    #[test]
    fn lists_that_must_carry_strategies_do() {
        for name in [
            "personality-types",
            "social-styles",
            "latent-need-types",
            "prospect-grades",
            "cpr-stages",
            "tiers",
            "loyalty-types",
            "churn-reasons",
        ] {
            for e in list(name).unwrap_or_default() {
                assert!(e.strategy.is_some(), "{name}/{} has no strategy", e.code);
            }
        }
    }

    #[test]
    fn every_personality_type_has_a_strategy() {
        for code in codes("personality-types") {
            assert!(personality_strategy(code).is_some(), "{code}");
        }
        assert!(personality_strategy("nope").is_none());
    }

    #[test]
    fn cpr_stages_carry_s_v_b() {
        let code_of = |stage: &str| cpr_strategy(stage).and_then(|s| s.code);
        assert_eq!(code_of("conversion"), Some("S"));
        assert_eq!(code_of("penetration"), Some("V"));
        assert_eq!(code_of("retention"), Some("B"));
        assert_eq!(code_of("not_started"), None);
        assert!(cpr_strategy("not_started").is_some());
        assert!(cpr_strategy("nope").is_none());
        for stage in ["conversion", "penetration", "retention"] {
            let n = cpr_strategy(stage).map_or(0, |s| s.actions.len());
            assert!((4..=6).contains(&n), "{stage}: {n} actions");
        }
    }

    #[test]
    fn strategy_codes_appear_only_on_cpr_stages() {
        for (name, entries) in all_lists() {
            if name == "cpr-stages" {
                continue;
            }
            for e in entries {
                assert!(
                    e.strategy.is_none_or(|s| s.code.is_none()),
                    "{name}/{}",
                    e.code
                );
            }
        }
    }

    #[test]
    fn entry_lookups() {
        assert!(entry("personality-types", "nope").is_none());
        assert!(entry("nope", "rational").is_none());
        assert_eq!(
            entry("personality-types", "rational").map(|e| e.label_zh),
            Some("理智沉稳型")
        );
        assert_eq!(
            entry("contact-roles", "decision_maker").map(|e| e.label_zh),
            Some("决策人")
        );
        assert!(entry("prospect-grades", "a").is_none());
        assert!(is_valid_code("churn-reasons", "natural"));
        assert!(!is_valid_code("churn-reasons", "Natural"));
    }
}
