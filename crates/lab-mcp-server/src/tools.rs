//! The seed's tools behind its four-level permission matrix (design §2, seed §7.4), their input
//! schemas and a small validator for them, and the privacy rules of their results (seed §7.5).

use lab_proto::scope::LabScope;
use serde_json::{Value, json};

use crate::data::{ReturnRequest, Shop};
use crate::principal::Principal;
use crate::redact::{mask_card, mask_email, mask_national_id, mask_phone};

/// The permission levels of the seed's matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Nothing beyond a valid token (or none, with `--anonymous-public`).
    Public,
    /// `mcp:read`, own data only.
    LoggedIn,
    /// `mcp:write`, and the object must belong to the caller.
    Owner,
    /// `mcp:admin` and the admin role.
    Admin,
}

impl Level {
    /// The scope the level needs, if any.
    pub fn scope(self) -> Option<LabScope> {
        match self {
            Self::Public => None,
            Self::LoggedIn => Some(LabScope::Read),
            Self::Owner => Some(LabScope::Write),
            Self::Admin => Some(LabScope::Admin),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::LoggedIn => "logged-in",
            Self::Owner => "owner",
            Self::Admin => "admin",
        }
    }
}

/// One tool.
#[derive(Debug, Clone)]
pub struct Tool {
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub level: Level,
    pub input_schema: Value,
}

const MAX_TEXT: u64 = 200;

/// Every tool of the lab RS, built once: every `tools/call` looks its tool up here, and building
/// the schemas on each request cost the end-to-end benchmark about a sixth of its throughput.
pub fn catalogue() -> &'static [Tool] {
    static CATALOGUE: std::sync::LazyLock<Vec<Tool>> = std::sync::LazyLock::new(build_catalogue);
    &CATALOGUE
}

fn build_catalogue() -> Vec<Tool> {
    let id = |description: &str| json!({"type": "string", "minLength": 1, "maxLength": 32, "description": description});
    let object = |properties: Value, required: &[&str]| json!({"type": "object", "properties": properties, "required": required, "additionalProperties": false});
    vec![
        Tool {
            name: "search_products",
            title: "Search products",
            description: "Search the catalogue by text and category. Public.",
            level: Level::Public,
            input_schema: object(
                json!({
                    "query": {"type": "string", "maxLength": MAX_TEXT, "description": "Words to look for in product names."},
                    "category": {"type": "string", "enum": ["footwear", "outerwear", "accessories", "camping"]},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 50}
                }),
                &[],
            ),
        },
        Tool {
            name: "get_categories",
            title: "List categories",
            description: "List the product categories. Public.",
            level: Level::Public,
            input_schema: object(json!({}), &[]),
        },
        Tool {
            name: "get_order",
            title: "Get an order",
            description: "One of your orders, with masked payment details. Needs mcp:read.",
            level: Level::LoggedIn,
            // `x-mcp-header` (TR-2607): a 2026-07-28 client mirrors the order id into
            // `Mcp-Param-OrderId`, which the RS checks against the body and never trusts alone.
            input_schema: object(
                json!({"order_id": {"type": "string", "minLength": 1, "maxLength": 32, "description": "The order id, e.g. A-1001.", "x-mcp-header": "OrderId"}}),
                &["order_id"],
            ),
        },
        Tool {
            name: "list_orders",
            title: "List your orders",
            description: "Your orders. Needs mcp:read.",
            level: Level::LoggedIn,
            input_schema: object(json!({}), &[]),
        },
        Tool {
            name: "track_shipment",
            title: "Track a shipment",
            description: "Shipping status of one of your orders, from the carrier's API. Needs mcp:read.",
            level: Level::LoggedIn,
            input_schema: object(json!({"order_id": id("The order id.")}), &["order_id"]),
        },
        Tool {
            name: "create_return",
            title: "Return an order",
            description: "Start a return for one of your delivered orders. Needs mcp:write.",
            level: Level::Owner,
            input_schema: object(
                json!({
                    "order_id": id("The order id."),
                    "reason": {"type": "string", "minLength": 1, "maxLength": MAX_TEXT}
                }),
                &["order_id", "reason"],
            ),
        },
        Tool {
            name: "update_profile",
            title: "Update a profile",
            description: "Change the display name or phone number of your own profile. Needs mcp:write.",
            level: Level::Owner,
            input_schema: object(
                json!({
                    "user_id": id("Whose profile: must be yours."),
                    "display_name": {"type": "string", "minLength": 1, "maxLength": 60},
                    "phone": {"type": "string", "minLength": 4, "maxLength": 20}
                }),
                &["user_id"],
            ),
        },
        Tool {
            name: "update_inventory",
            title: "Update inventory",
            description: "Set the stock of a product. Needs mcp:admin and the admin role.",
            level: Level::Admin,
            input_schema: object(
                json!({"product_id": id("The product id."), "stock": {"type": "integer", "minimum": 0, "maximum": 100000}}),
                &["product_id", "stock"],
            ),
        },
        Tool {
            name: "manage_promotions",
            title: "Manage promotions",
            description: "List, create or delete promotion codes. Needs mcp:admin and the admin role.",
            level: Level::Admin,
            input_schema: object(
                json!({
                    "action": {"type": "string", "enum": ["list", "create", "delete"]},
                    "code": {"type": "string", "minLength": 3, "maxLength": 20},
                    "percent_off": {"type": "integer", "minimum": 1, "maximum": 90}
                }),
                &["action"],
            ),
        },
    ]
}

/// The `tools/list` entry of a tool.
pub(crate) fn describe(tool: &Tool) -> Value {
    json!({
        "name": tool.name,
        "title": tool.title,
        "description": tool.description,
        "inputSchema": tool.input_schema,
        "annotations": {"readOnlyHint": matches!(tool.level, Level::Public | Level::LoggedIn)},
        "_meta": {"lab/permission_level": tool.level.as_str()},
    })
}

/// Validates arguments against the subset of JSON Schema the lab's tools use: an object with typed
/// properties, `required`, `additionalProperties: false`, string lengths, integer bounds and enums.
pub(crate) fn validate(schema: &Value, arguments: &Value) -> Result<(), String> {
    let Some(arguments) = arguments.as_object() else {
        return Err("arguments must be an object".to_owned());
    };
    let properties = schema["properties"].as_object().cloned().unwrap_or_default();
    for required in schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        if !arguments.contains_key(required) {
            return Err(format!("missing required argument `{required}`"));
        }
    }
    for (name, value) in arguments {
        let Some(property) = properties.get(name) else {
            return Err(format!("unknown argument `{name}`"));
        };
        match property["type"].as_str() {
            Some("string") => {
                let Some(text) = value.as_str() else { return Err(format!("`{name}` must be a string")) };
                let length = text.chars().count() as u64;
                if property["minLength"].as_u64().is_some_and(|min| length < min) {
                    return Err(format!("`{name}` is too short"));
                }
                if property["maxLength"].as_u64().is_some_and(|max| length > max) {
                    return Err(format!("`{name}` is longer than {} characters", property["maxLength"]));
                }
                if text.chars().any(|c| c.is_control()) {
                    return Err(format!("`{name}` contains control characters"));
                }
            }
            Some("integer") => {
                let Some(number) = value.as_i64() else { return Err(format!("`{name}` must be an integer")) };
                if property["minimum"].as_i64().is_some_and(|min| number < min)
                    || property["maximum"].as_i64().is_some_and(|max| number > max)
                {
                    return Err(format!("`{name}` is out of range"));
                }
            }
            _ => {}
        }
        if let Some(allowed) = property["enum"].as_array()
            && !allowed.contains(value)
        {
            return Err(format!("`{name}` must be one of {}", Value::Array(allowed.clone())));
        }
    }
    Ok(())
}

/// What a tool produced: a result, or a tool execution error (`isError: true`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    Ok(Value),
    Error(String),
}

impl Outcome {
    /// The `tools/call` result.
    pub(crate) fn to_result(&self) -> Value {
        match self {
            Self::Ok(value) => json!({
                "content": [{"type": "text", "text": value.to_string()}],
                "structuredContent": value,
                "isError": false,
            }),
            Self::Error(message) => json!({
                "content": [{"type": "text", "text": message}],
                "isError": true,
            }),
        }
    }
}

/// How results are shaped, set by the RS profile.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Policy {
    /// Weak `no-owner-check`: objects of other users are served.
    pub(crate) owner_check: bool,
    /// Weak `no-redaction`: raw personal and payment data is returned.
    pub(crate) redaction: bool,
}

/// The text of every "not found" error: someone else's object looks exactly like a missing one
/// (requirements §8, RS-19), so the answer never tells an attacker that an id exists.
fn order_not_found(order_id: &str) -> Outcome {
    Outcome::Error(format!("order {order_id} not found"))
}

fn order_view(shop: &Shop, order: &crate::data::Order, policy: Policy) -> Value {
    let items: Vec<Value> = order
        .items
        .iter()
        .map(|(product_id, quantity)| {
            let name = shop.product(product_id).map_or("unknown product", |product| product.name);
            json!({"product_id": product_id, "name": name, "quantity": quantity})
        })
        .collect();
    let payment = if policy.redaction {
        json!({"card": mask_card(order.card_number)})
    } else {
        json!({"card_number": order.card_number})
    };
    json!({
        "order_id": order.id,
        "status": order.status,
        "items": items,
        "total": format!("{}.{:02}", order.total_cents / 100, order.total_cents % 100),
        "payment": payment,
    })
}

/// Runs a tool whose level and scope the caller already passed. Owner checks and redaction happen
/// here, on every object.
pub(crate) fn execute(
    shop: &mut Shop,
    tool: &str,
    arguments: &Value,
    principal: &Principal,
    policy: Policy,
) -> Outcome {
    let argument = |name: &str| arguments.get(name).and_then(Value::as_str).unwrap_or_default().to_owned();
    let user = principal.user_id().unwrap_or_default().to_owned();
    match tool {
        "search_products" => {
            let query = argument("query").to_lowercase();
            let category = arguments.get("category").and_then(Value::as_str);
            let limit = arguments.get("limit").and_then(Value::as_u64).unwrap_or(10) as usize;
            let products: Vec<Value> = shop
                .products
                .iter()
                .filter(|product| product.name.to_lowercase().contains(&query))
                .filter(|product| category.is_none_or(|category| product.category == category))
                .take(limit)
                .map(|product| {
                    let mut view = json!({
                        "product_id": product.id,
                        "name": product.name,
                        "category": product.category,
                        "price": format!("{}.{:02}", product.price_cents / 100, product.price_cents % 100),
                        "in_stock": product.stock > 0,
                        "stock": product.stock,
                    });
                    if !policy.redaction {
                        view["cost_cents"] = json!(product.cost_cents);
                        view["margin_percent"] = json!(product.margin_percent);
                    }
                    view
                })
                .collect();
            Outcome::Ok(json!({"products": products}))
        }
        "get_categories" => {
            let mut categories: Vec<&str> = shop.products.iter().map(|product| product.category).collect();
            categories.sort_unstable();
            categories.dedup();
            Outcome::Ok(json!({"categories": categories}))
        }
        "get_order" | "track_shipment" => {
            let order_id = argument("order_id");
            match shop.order(&order_id) {
                Some(order) if order.owner == user || !policy.owner_check => {
                    Outcome::Ok(order_view(shop, order, policy))
                }
                _ => order_not_found(&order_id),
            }
        }
        "list_orders" => {
            let orders: Vec<Value> = shop
                .orders
                .iter()
                .filter(|order| order.owner == user)
                .map(|order| order_view(shop, order, policy))
                .collect();
            let profile = shop.customers.get(user.as_str()).map(|customer| {
                if policy.redaction {
                    json!({"name": customer.display_name, "email": mask_email(&customer.email), "phone": mask_phone(&customer.phone), "national_id": mask_national_id(customer.national_id)})
                } else {
                    json!({"name": customer.display_name, "email": customer.email, "phone": customer.phone, "national_id": customer.national_id, "card_number": customer.card_number, "card_cvv": customer.card_cvv, "password_hash": customer.password_hash})
                }
            });
            let returns: Vec<Value> = shop
                .returns
                .iter()
                .filter(|request| request.owner == user)
                .map(|request| json!({"return_id": request.id, "order_id": request.order_id, "reason": request.reason}))
                .collect();
            Outcome::Ok(json!({"customer": profile, "orders": orders, "returns": returns}))
        }
        "create_return" => {
            let order_id = argument("order_id");
            let eligible = match shop.order(&order_id) {
                Some(order) if order.owner == user || !policy.owner_check => order.status == "delivered",
                _ => return order_not_found(&order_id),
            };
            if !eligible {
                return Outcome::Error(format!("order {order_id} has not been delivered yet and cannot be returned"));
            }
            // Unguessable, so that an id says nothing of how many returns there are (an admin's
            // figure) and cannot be enumerated.
            let Ok(suffix) = lab_proto::random_token(9) else {
                return Outcome::Error("the return could not be recorded".to_owned());
            };
            let id = format!("R-{suffix}");
            shop.returns.push(ReturnRequest {
                id: id.clone(),
                order_id: order_id.clone(),
                owner: user,
                reason: argument("reason"),
            });
            Outcome::Ok(json!({"return_id": id, "order_id": order_id, "status": "requested"}))
        }
        "update_profile" => {
            let target = argument("user_id");
            if target != user && policy.owner_check {
                return Outcome::Error(format!("user {target} not found"));
            }
            let Some(customer) = shop.customers.get_mut(target.as_str()) else {
                return Outcome::Error(format!("user {target} not found"));
            };
            if let Some(name) = arguments.get("display_name").and_then(Value::as_str) {
                customer.display_name = name.to_owned();
            }
            if let Some(phone) = arguments.get("phone").and_then(Value::as_str) {
                customer.phone = phone.to_owned();
            }
            let phone = if policy.redaction { mask_phone(&customer.phone) } else { customer.phone.clone() };
            Outcome::Ok(json!({"user_id": target, "display_name": customer.display_name, "phone": phone}))
        }
        "update_inventory" => {
            let product_id = argument("product_id");
            let stock = arguments.get("stock").and_then(Value::as_u64).unwrap_or_default();
            match shop.products.iter_mut().find(|product| product.id == product_id) {
                Some(product) => {
                    product.stock = stock;
                    Outcome::Ok(json!({"product_id": product_id, "stock": stock}))
                }
                None => Outcome::Error(format!("product {product_id} not found")),
            }
        }
        "manage_promotions" => match argument("action").as_str() {
            "list" => Outcome::Ok(
                json!({"promotions": shop.promotions.iter().map(|(code, promotion)| json!({"code": code, "percent_off": promotion.percent_off})).collect::<Vec<_>>()}),
            ),
            "create" => {
                let code = argument("code");
                let Some(percent_off) = arguments.get("percent_off").and_then(Value::as_u64) else {
                    return Outcome::Error("create needs `code` and `percent_off`".to_owned());
                };
                if code.is_empty() || !code.chars().all(|c| c.is_ascii_alphanumeric()) {
                    return Outcome::Error("a promotion code is letters and digits".to_owned());
                }
                if shop.promotions.len() >= 100 {
                    return Outcome::Error("too many promotions".to_owned());
                }
                shop.promotions.insert(code.to_uppercase(), crate::data::Promotion { percent_off });
                Outcome::Ok(json!({"created": code.to_uppercase(), "percent_off": percent_off}))
            }
            _ => {
                let code = argument("code").to_uppercase();
                match shop.promotions.remove(&code) {
                    Some(_) => Outcome::Ok(json!({"deleted": code})),
                    None => Outcome::Error(format!("promotion {code} not found")),
                }
            }
        },
        other => Outcome::Error(format!("unknown tool {other}")),
    }
}

/// The daily analytics resource (design §2): aggregate figures only, for the assistant.
pub(crate) fn analytics(shop: &Shop) -> Value {
    let revenue: u64 = shop.orders.iter().map(|order| order.total_cents).sum();
    json!({
        "orders": shop.orders.len(),
        "revenue": format!("{}.{:02}", revenue / 100, revenue % 100),
        "returns_requested": shop.returns.len(),
        "products_out_of_stock": shop.products.iter().filter(|product| product.stock == 0).count(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validator_checks_types_lengths_enums_and_unknown_arguments() {
        let tools = catalogue();
        let search = &tools[0].input_schema;
        assert!(validate(search, &json!({})).is_ok());
        assert!(validate(search, &json!({"query": "shoe", "limit": 5, "category": "footwear"})).is_ok());
        assert!(validate(search, &json!({"query": 5})).is_err());
        assert!(validate(search, &json!({"query": "x".repeat(201)})).is_err());
        assert!(validate(search, &json!({"limit": 0})).is_err());
        assert!(validate(search, &json!({"limit": "5"})).is_err());
        assert!(validate(search, &json!({"category": "weapons"})).is_err());
        assert!(validate(search, &json!({"sql": "1=1"})).is_err());
        assert!(validate(search, &json!({"query": "a\u{0}b"})).is_err());
        assert!(validate(search, &json!([1])).is_err());
        let get_order = &tools[2].input_schema;
        assert!(validate(get_order, &json!({})).unwrap_err().contains("order_id"));
        assert!(validate(get_order, &json!({"order_id": ""})).is_err());
    }
}
