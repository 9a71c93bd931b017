//! Name pools for synthetic users: each culture has given names and surnames, each with its
//! display spelling and an ASCII form for the user principal name. A user index maps to a name
//! through a bijection, so user principal names never collide and nothing has to be remembered.

/// How a culture writes a full name.
#[derive(Clone, Copy)]
enum Order {
    /// "Given Surname"
    GivenSurname,
    /// "SurnameGiven", no space (Chinese, Korean)
    SurnameGivenTight,
    /// "Surname Given" (Japanese, Vietnamese)
    SurnameGiven,
}

struct Culture {
    order: Order,
    /// (display, ascii)
    given: &'static [(&'static str, &'static str)],
    surnames: &'static [(&'static str, &'static str)],
}

const CULTURES: &[Culture] = &[
    Culture {
        order: Order::GivenSurname,
        given: &[
            ("James", "james"),
            ("Mary", "mary"),
            ("Robert", "robert"),
            ("Patricia", "patricia"),
            ("John", "john"),
            ("Jennifer", "jennifer"),
            ("Michael", "michael"),
            ("Linda", "linda"),
            ("David", "david"),
            ("Elizabeth", "elizabeth"),
            ("William", "william"),
            ("Barbara", "barbara"),
            ("Richard", "richard"),
            ("Susan", "susan"),
            ("Joseph", "joseph"),
            ("Jessica", "jessica"),
            ("Thomas", "thomas"),
            ("Sarah", "sarah"),
            ("Charles", "charles"),
            ("Karen", "karen"),
            ("Daniel", "daniel"),
            ("Nancy", "nancy"),
            ("Matthew", "matthew"),
            ("Lisa", "lisa"),
            ("Anthony", "anthony"),
            ("Emily", "emily"),
            ("Mark", "mark"),
            ("Megan", "megan"),
        ],
        surnames: &[
            ("Smith", "smith"),
            ("Johnson", "johnson"),
            ("Williams", "williams"),
            ("Brown", "brown"),
            ("Jones", "jones"),
            ("Miller", "miller"),
            ("Davis", "davis"),
            ("Wilson", "wilson"),
            ("Anderson", "anderson"),
            ("Taylor", "taylor"),
            ("Moore", "moore"),
            ("Martin", "martin"),
            ("Jackson", "jackson"),
            ("Thompson", "thompson"),
            ("White", "white"),
            ("Harris", "harris"),
            ("Clark", "clark"),
            ("Lewis", "lewis"),
            ("Walker", "walker"),
            ("Young", "young"),
            ("Allen", "allen"),
            ("O'Brien", "obrien"),
        ],
    },
    Culture {
        order: Order::GivenSurname,
        given: &[
            ("José", "jose"),
            ("María", "maria"),
            ("Sofía", "sofia"),
            ("Ángel", "angel"),
            ("Lucía", "lucia"),
            ("Martín", "martin"),
            ("Inés", "ines"),
            ("Raúl", "raul"),
            ("Begoña", "begona"),
        ],
        surnames: &[
            ("García", "garcia"),
            ("Fernández", "fernandez"),
            ("López", "lopez"),
            ("Martínez", "martinez"),
            ("Sánchez", "sanchez"),
            ("Pérez", "perez"),
            ("Muñoz", "munoz"),
            ("Núñez", "nunez"),
            ("Ibáñez", "ibanez"),
        ],
    },
    Culture {
        order: Order::GivenSurname,
        given: &[
            ("François", "francois"),
            ("Hélène", "helene"),
            ("Éloïse", "eloise"),
            ("Jérôme", "jerome"),
            ("Cécile", "cecile"),
            ("Gaëlle", "gaelle"),
            ("Noël", "noel"),
        ],
        surnames: &[
            ("Lefèvre", "lefevre"),
            ("Dubois", "dubois"),
            ("Bélanger", "belanger"),
            ("Côté", "cote"),
            ("Gagné", "gagne"),
            ("Lévesque", "levesque"),
            ("Moreau", "moreau"),
        ],
    },
    Culture {
        order: Order::GivenSurname,
        given: &[
            ("Jürgen", "juergen"),
            ("Zoë", "zoe"),
            ("Günther", "guenther"),
            ("Åsa", "asa"),
            ("Bjørn", "bjorn"),
            ("Søren", "soren"),
            ("Käthe", "kaethe"),
        ],
        surnames: &[
            ("Müller", "mueller"),
            ("Schröder", "schroeder"),
            ("Weiß", "weiss"),
            ("Ødegård", "odegard"),
            ("Åström", "astrom"),
            ("Björk", "bjork"),
            ("Strauß", "strauss"),
        ],
    },
    Culture {
        order: Order::SurnameGivenTight,
        given: &[
            ("芳", "fang"),
            ("伟", "wei"),
            ("娜", "na"),
            ("敏", "min"),
            ("静", "jing"),
            ("磊", "lei"),
            ("婷", "ting"),
        ],
        surnames: &[
            ("王", "wang"),
            ("李", "li"),
            ("张", "zhang"),
            ("刘", "liu"),
            ("陈", "chen"),
            ("杨", "yang"),
        ],
    },
    Culture {
        order: Order::SurnameGiven,
        given: &[
            ("健", "ken"),
            ("花子", "hanako"),
            ("翔", "sho"),
            ("美咲", "misaki"),
            ("大輔", "daisuke"),
            ("結衣", "yui"),
        ],
        surnames: &[
            ("佐藤", "sato"),
            ("鈴木", "suzuki"),
            ("高橋", "takahashi"),
            ("田中", "tanaka"),
            ("渡辺", "watanabe"),
        ],
    },
    Culture {
        order: Order::SurnameGivenTight,
        given: &[
            ("민준", "minjun"),
            ("서연", "seoyeon"),
            ("지호", "jiho"),
            ("하은", "haeun"),
        ],
        surnames: &[("김", "kim"), ("이", "lee"), ("박", "park"), ("최", "choi")],
    },
    Culture {
        order: Order::GivenSurname,
        given: &[
            ("محمد", "mohammed"),
            ("فاطمة", "fatima"),
            ("أحمد", "ahmed"),
            ("ليلى", "layla"),
            ("عمر", "omar"),
            ("نور", "nour"),
        ],
        surnames: &[
            ("العلي", "alali"),
            ("حداد", "haddad"),
            ("الخطيب", "alkhatib"),
            ("منصور", "mansour"),
            ("السيد", "alsayed"),
        ],
    },
    Culture {
        order: Order::GivenSurname,
        given: &[
            ("דוד", "david"),
            ("נועה", "noa"),
            ("יוסף", "yosef"),
            ("מיכל", "michal"),
            ("אריאל", "ariel"),
        ],
        surnames: &[
            ("לוי", "levi"),
            ("כהן", "cohen"),
            ("מזרחי", "mizrahi"),
            ("פרץ", "peretz"),
        ],
    },
    Culture {
        order: Order::GivenSurname,
        given: &[
            ("Priya", "priya"),
            ("Arjun", "arjun"),
            ("Ananya", "ananya"),
            ("Rahul", "rahul"),
            ("Aditi", "aditi"),
            ("Vikram", "vikram"),
        ],
        surnames: &[
            ("Sharma", "sharma"),
            ("Patel", "patel"),
            ("Iyer", "iyer"),
            ("Reddy", "reddy"),
            ("Nair", "nair"),
        ],
    },
    Culture {
        order: Order::GivenSurname,
        given: &[
            ("Дмитрий", "dmitry"),
            ("Сергей", "sergey"),
            ("Алексей", "alexey"),
            ("Иван", "ivan"),
        ],
        surnames: &[
            ("Смирнов", "smirnov"),
            ("Кузнецов", "kuznetsov"),
            ("Попов", "popov"),
            ("Соколов", "sokolov"),
        ],
    },
    Culture {
        order: Order::GivenSurname,
        given: &[
            ("Δημήτρης", "dimitris"),
            ("Γιώργος", "giorgos"),
            ("Νίκος", "nikos"),
        ],
        surnames: &[
            ("Παπαδόπουλος", "papadopoulos"),
            ("Οικονόμου", "oikonomou"),
            ("Γεωργίου", "georgiou"),
        ],
    },
    Culture {
        order: Order::SurnameGiven,
        given: &[
            ("Thảo", "thao"),
            ("Minh", "minh"),
            ("Hương", "huong"),
            ("Dũng", "dung"),
        ],
        surnames: &[
            ("Nguyễn", "nguyen"),
            ("Trần", "tran"),
            ("Lê", "le"),
            ("Phạm", "pham"),
        ],
    },
    Culture {
        order: Order::GivenSurname,
        given: &[
            ("Łukasz", "lukasz"),
            ("Agnieszka", "agnieszka"),
            ("Paweł", "pawel"),
            ("Małgorzata", "malgorzata"),
        ],
        surnames: &[
            ("Wiśniewski", "wisniewski"),
            ("Kowalczyk", "kowalczyk"),
            ("Wójcik", "wojcik"),
            ("Zieliński", "zielinski"),
        ],
    },
    Culture {
        order: Order::GivenSurname,
        given: &[
            ("Çağla", "cagla"),
            ("Gökhan", "gokhan"),
            ("Şule", "sule"),
            ("Barış", "baris"),
        ],
        surnames: &[
            ("Yılmaz", "yilmaz"),
            ("Öztürk", "ozturk"),
            ("Şahin", "sahin"),
            ("Çelik", "celik"),
        ],
    },
];

/// The number of distinct (culture, given, surname) combinations.
pub fn combinations() -> u64 {
    CULTURES
        .iter()
        .map(|c| (c.given.len() * c.surnames.len()) as u64)
        .sum()
}

/// A name: display form, and the ASCII `given.surname` stem of a user principal name.
pub struct Name {
    pub display: String,
    pub stem: String,
}

/// The name of combination `c` (`c < combinations()`), with `dup` (0 for the first holder of
/// that name) appended to the stem from the second holder on: `mary.smith`, `mary.smith2`, ...
pub fn name(c: u64, dup: u64) -> Name {
    let mut rest = c;
    for culture in CULTURES {
        let size = (culture.given.len() * culture.surnames.len()) as u64;
        if rest < size {
            let g = culture.given[(rest % culture.given.len() as u64) as usize];
            let s = culture.surnames[(rest / culture.given.len() as u64) as usize];
            let display = match culture.order {
                Order::GivenSurname => format!("{} {}", g.0, s.0),
                Order::SurnameGivenTight => format!("{}{}", s.0, g.0),
                Order::SurnameGiven => format!("{} {}", s.0, g.0),
            };
            let stem = if dup == 0 {
                format!("{}.{}", g.1, s.1)
            } else {
                format!("{}.{}{}", g.1, s.1, dup + 1)
            };
            return Name { display, stem };
        }
        rest -= size;
    }
    // Unreachable for c < combinations(); a plain name keeps the function total.
    Name {
        display: format!("User {c}"),
        stem: format!("user{c}.{dup}"),
    }
}

/// A bijection on `0..m` (an affine map with a multiplier coprime to `m`), so user indexes map
/// to distinct names that still look shuffled.
pub struct Permutation {
    m: u64,
    a: u64,
    b: u64,
}

impl Permutation {
    pub fn new(m: u64, seed: u64) -> Permutation {
        let mut a = (m * 5 / 8) | 1;
        while gcd(a, m) != 1 {
            a += 2;
        }
        Permutation { m, a, b: seed % m }
    }

    pub fn apply(&self, x: u64) -> u64 {
        (((x % self.m) as u128 * self.a as u128 + self.b as u128) % self.m as u128) as u64
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Domains of guest users' home tenants.
pub const GUEST_DOMAINS: [&str; 6] = [
    "fabrikam.com",
    "northwindtraders.com",
    "adatum.com",
    "tailspintoys.com",
    "gmail.com",
    "outlook.com",
];
