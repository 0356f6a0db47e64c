//! Prints the SQL of the large benchmark schema: `cargo run --example large_schema -- SCHEMA APP_ROLE | psql`.
//! Batches are separated by `COMMIT;` so that psql runs each in its own transaction.

fn main() {
    let mut args = std::env::args().skip(1);
    let schema = args.next().unwrap_or_else(|| "big".into());
    let app_role = args.next().unwrap_or_else(|| "app_user".into());
    for batch in tenantprobe_testkit::large_schema::sql(
        &schema,
        &app_role,
        tenantprobe_testkit::large_schema::Shape::LARGE,
    ) {
        println!("BEGIN;\n{batch}COMMIT;");
    }
}
