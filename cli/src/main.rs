fn main() {
    println!("collabzium {}", collabzium_core::version());
}
