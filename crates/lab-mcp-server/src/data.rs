//! The seed's e-commerce domain (seed §7.4–7.5): products with internal cost prices, customers with
//! personal and payment data, orders, returns and promotions.
//!
//! The data is deliberately full of things that must never reach a model (card numbers, CVVs,
//! national ID numbers, password hashes, cost prices and margins), so the redaction rules of
//! `redact.rs` have something real to protect and a scenario can prove that none of it leaks.

use std::collections::BTreeMap;

/// A catalogue product. `cost_cents` and `margin_percent` are internal (seed §7.5).
#[derive(Debug, Clone)]
pub(crate) struct Product {
    pub(crate) id: &'static str,
    pub(crate) name: &'static str,
    pub(crate) category: &'static str,
    pub(crate) price_cents: u64,
    pub(crate) stock: u64,
    pub(crate) cost_cents: u64,
    pub(crate) margin_percent: u64,
}

/// A customer's stored record, personal and payment data included.
#[derive(Debug, Clone)]
pub(crate) struct Customer {
    pub(crate) user_id: &'static str,
    pub(crate) display_name: String,
    pub(crate) email: String,
    pub(crate) phone: String,
    pub(crate) national_id: &'static str,
    pub(crate) password_hash: &'static str,
    pub(crate) card_number: &'static str,
    pub(crate) card_cvv: &'static str,
    pub(crate) admin: bool,
}

/// An order with its payment details.
#[derive(Debug, Clone)]
pub(crate) struct Order {
    pub(crate) id: &'static str,
    pub(crate) owner: &'static str,
    pub(crate) status: &'static str,
    pub(crate) items: Vec<(&'static str, u64)>,
    pub(crate) total_cents: u64,
    pub(crate) card_number: &'static str,
    pub(crate) tracking_number: &'static str,
}

/// A return request.
#[derive(Debug, Clone)]
pub(crate) struct ReturnRequest {
    pub(crate) id: String,
    pub(crate) order_id: String,
    pub(crate) owner: String,
    pub(crate) reason: String,
}

/// A promotion code.
#[derive(Debug, Clone)]
pub(crate) struct Promotion {
    pub(crate) percent_off: u64,
}

/// The shop's state.
#[derive(Debug, Clone)]
pub(crate) struct Shop {
    pub(crate) products: Vec<Product>,
    pub(crate) customers: BTreeMap<&'static str, Customer>,
    pub(crate) orders: Vec<Order>,
    pub(crate) returns: Vec<ReturnRequest>,
    pub(crate) promotions: BTreeMap<String, Promotion>,
}

/// Values planted in the data that no tool result may contain (redaction tests grep for them).
pub const SECRETS_THAT_NEVER_LEAVE: [&str; 9] = [
    "4111111111111111",
    "5500005555555559",
    "123-45-6789",
    "987-65-4321",
    "$argon2id$v=19$m=65536,t=3,p=4$YWxpY2U",
    "cvv-731",
    "cost_cents",
    "margin_percent",
    "alice@example.com",
];

impl Shop {
    /// The seeded shop of design §2.
    pub(crate) fn seeded() -> Self {
        let product = |id, name, category, price_cents, stock, cost_cents| Product {
            id,
            name,
            category,
            price_cents,
            stock,
            cost_cents,
            margin_percent: (price_cents - cost_cents) * 100 / price_cents,
        };
        let products = vec![
            product("P-100", "Trail Running Shoes", "footwear", 8900, 42, 4100),
            product("P-101", "Waterproof Jacket", "outerwear", 12900, 15, 6000),
            product("P-102", "Merino Wool Socks", "footwear", 1450, 200, 320),
            product("P-103", "Insulated Water Bottle", "accessories", 2400, 80, 750),
            product("P-104", "Headlamp 400 lm", "accessories", 3900, 0, 1200),
            product("P-105", "Ultralight Tent", "camping", 34900, 6, 18000),
        ];
        let customers = [
            Customer {
                user_id: "alice",
                display_name: "Alice Liddell".into(),
                email: "alice@example.com".into(),
                phone: "+1-555-0100-1234".into(),
                national_id: "123-45-6789",
                password_hash: "$argon2id$v=19$m=65536,t=3,p=4$YWxpY2U",
                card_number: "4111111111111111",
                card_cvv: "cvv-731",
                admin: false,
            },
            Customer {
                user_id: "bob",
                display_name: "Bob Builder".into(),
                email: "bob@example.com".into(),
                phone: "+1-555-0100-5678".into(),
                national_id: "987-65-4321",
                password_hash: "$argon2id$v=19$m=65536,t=3,p=4$Ym9i",
                card_number: "5500005555555559",
                card_cvv: "cvv-482",
                admin: false,
            },
            Customer {
                user_id: "carol",
                display_name: "Carol Admin".into(),
                email: "carol@example.com".into(),
                phone: "+1-555-0100-9012".into(),
                national_id: "555-12-3456",
                password_hash: "$argon2id$v=19$m=65536,t=3,p=4$Y2Fyb2w",
                card_number: "340000000000009",
                card_cvv: "cvv-115",
                admin: true,
            },
        ]
        .into_iter()
        .map(|customer| (customer.user_id, customer))
        .collect();
        let orders = vec![
            Order {
                id: "A-1001",
                owner: "alice",
                status: "delivered",
                items: vec![("P-100", 1), ("P-102", 2)],
                total_cents: 11800,
                card_number: "4111111111111111",
                tracking_number: "TRK-1001",
            },
            Order {
                id: "A-1002",
                owner: "alice",
                status: "shipped",
                items: vec![("P-105", 1)],
                total_cents: 34900,
                card_number: "4111111111111111",
                tracking_number: "TRK-1002",
            },
            Order {
                id: "B-2001",
                owner: "bob",
                status: "delivered",
                items: vec![("P-101", 1)],
                total_cents: 12900,
                card_number: "5500005555555559",
                tracking_number: "TRK-2001",
            },
        ];
        let promotions = [("WELCOME10".to_owned(), Promotion { percent_off: 10 })].into_iter().collect();
        Self { products, customers, orders, returns: Vec::new(), promotions }
    }

    pub(crate) fn product(&self, id: &str) -> Option<&Product> {
        self.products.iter().find(|product| product.id == id)
    }

    pub(crate) fn order(&self, id: &str) -> Option<&Order> {
        self.orders.iter().find(|order| order.id == id)
    }
}
