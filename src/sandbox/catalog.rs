//! Fixed vocabularies the generator draws from: agencies (ids, Vietnamese names, regions) and
//! the parts service names are built from. Data only; no randomness here.

use unicode_normalization::UnicodeNormalization;

use crate::facts::AgencyKind;

/// One agency of the catalogue: `(id, Vietnamese name, English name or "" to derive, kind, region)`.
/// Region is the inspection jurisdiction: `b` = mien-bac, `t` = mien-trung, `n` = mien-nam.
pub(crate) type AgencyRow = (&'static str, &'static str, &'static str, AgencyKind, char);

use AgencyKind::{City, Ministry, Province};

pub(crate) const AGENCIES: &[AgencyRow] = &[
    (
        "bca",
        "Bộ Công an",
        "Ministry of Public Security",
        Ministry,
        'b',
    ),
    (
        "bxd",
        "Bộ Xây dựng",
        "Ministry of Construction",
        Ministry,
        'b',
    ),
    ("btp", "Bộ Tư pháp", "Ministry of Justice", Ministry, 'b'),
    ("hanoi", "Thành phố Hà Nội", "", City, 'b'),
    ("thainguyen", "Tỉnh Thái Nguyên", "", Province, 'b'),
    ("backan", "Tỉnh Bắc Kạn", "", Province, 'b'),
    ("caobang", "Tỉnh Cao Bằng", "", Province, 'b'),
    ("danang", "Thành phố Đà Nẵng", "", City, 't'),
    ("quangnam", "Tỉnh Quảng Nam", "", Province, 't'),
    ("quangngai", "Tỉnh Quảng Ngãi", "", Province, 't'),
    ("dongnai", "Tỉnh Đồng Nai", "", Province, 'n'),
    ("hcm", "Thành phố Hồ Chí Minh", "", City, 'n'),
    ("binhduong", "Tỉnh Bình Dương", "", Province, 'n'),
    ("binhphuoc", "Tỉnh Bình Phước", "", Province, 'n'),
    ("kontum", "Tỉnh Kon Tum", "", Province, 't'),
    (
        "bct",
        "Bộ Công Thương",
        "Ministry of Industry and Trade",
        Ministry,
        'b',
    ),
    ("byt", "Bộ Y tế", "Ministry of Health", Ministry, 'b'),
    (
        "bgddt",
        "Bộ Giáo dục và Đào tạo",
        "Ministry of Education and Training",
        Ministry,
        'b',
    ),
    ("btc", "Bộ Tài chính", "Ministry of Finance", Ministry, 'b'),
    (
        "bnnmt",
        "Bộ Nông nghiệp và Môi trường",
        "Ministry of Agriculture and Environment",
        Ministry,
        'b',
    ),
    (
        "bkhcn",
        "Bộ Khoa học và Công nghệ",
        "Ministry of Science and Technology",
        Ministry,
        'b',
    ),
    (
        "bvhttdl",
        "Bộ Văn hóa, Thể thao và Du lịch",
        "Ministry of Culture, Sports and Tourism",
        Ministry,
        'b',
    ),
    (
        "bnv",
        "Bộ Nội vụ",
        "Ministry of Home Affairs",
        Ministry,
        'b',
    ),
    (
        "bqp",
        "Bộ Quốc phòng",
        "Ministry of National Defence",
        Ministry,
        'b',
    ),
    (
        "bng",
        "Bộ Ngoại giao",
        "Ministry of Foreign Affairs",
        Ministry,
        'b',
    ),
    (
        "bdttg",
        "Bộ Dân tộc và Tôn giáo",
        "Ministry of Ethnic and Religious Affairs",
        Ministry,
        'b',
    ),
    (
        "nhnn",
        "Ngân hàng Nhà nước Việt Nam",
        "State Bank of Vietnam",
        Ministry,
        'b',
    ),
    (
        "bhxh",
        "Bảo hiểm xã hội Việt Nam",
        "Vietnam Social Security",
        Ministry,
        'b',
    ),
    ("haiphong", "Thành phố Hải Phòng", "", City, 'b'),
    ("cantho", "Thành phố Cần Thơ", "", City, 'n'),
    ("hue", "Thành phố Huế", "", City, 't'),
    ("angiang", "Tỉnh An Giang", "", Province, 'n'),
    ("bariavungtau", "Tỉnh Bà Rịa - Vũng Tàu", "", Province, 'n'),
    ("bacgiang", "Tỉnh Bắc Giang", "", Province, 'b'),
    ("baclieu", "Tỉnh Bạc Liêu", "", Province, 'n'),
    ("bacninh", "Tỉnh Bắc Ninh", "", Province, 'b'),
    ("bentre", "Tỉnh Bến Tre", "", Province, 'n'),
    ("binhdinh", "Tỉnh Bình Định", "", Province, 't'),
    ("binhthuan", "Tỉnh Bình Thuận", "", Province, 't'),
    ("camau", "Tỉnh Cà Mau", "", Province, 'n'),
    ("daklak", "Tỉnh Đắk Lắk", "", Province, 't'),
    ("daknong", "Tỉnh Đắk Nông", "", Province, 't'),
    ("dienbien", "Tỉnh Điện Biên", "", Province, 'b'),
    ("dongthap", "Tỉnh Đồng Tháp", "", Province, 'n'),
    ("gialai", "Tỉnh Gia Lai", "", Province, 't'),
    ("hagiang", "Tỉnh Hà Giang", "", Province, 'b'),
    ("hanam", "Tỉnh Hà Nam", "", Province, 'b'),
    ("hatinh", "Tỉnh Hà Tĩnh", "", Province, 't'),
    ("haiduong", "Tỉnh Hải Dương", "", Province, 'b'),
    ("haugiang", "Tỉnh Hậu Giang", "", Province, 'n'),
    ("hoabinh", "Tỉnh Hòa Bình", "", Province, 'b'),
    ("hungyen", "Tỉnh Hưng Yên", "", Province, 'b'),
    ("khanhhoa", "Tỉnh Khánh Hòa", "", Province, 't'),
    ("kiengiang", "Tỉnh Kiên Giang", "", Province, 'n'),
    ("laichau", "Tỉnh Lai Châu", "", Province, 'b'),
    ("lamdong", "Tỉnh Lâm Đồng", "", Province, 't'),
    ("langson", "Tỉnh Lạng Sơn", "", Province, 'b'),
    ("laocai", "Tỉnh Lào Cai", "", Province, 'b'),
    ("longan", "Tỉnh Long An", "", Province, 'n'),
    ("namdinh", "Tỉnh Nam Định", "", Province, 'b'),
    ("nghean", "Tỉnh Nghệ An", "", Province, 't'),
    ("ninhbinh", "Tỉnh Ninh Bình", "", Province, 'b'),
    ("ninhthuan", "Tỉnh Ninh Thuận", "", Province, 't'),
    ("phutho", "Tỉnh Phú Thọ", "", Province, 'b'),
    ("phuyen", "Tỉnh Phú Yên", "", Province, 't'),
    ("quangbinh", "Tỉnh Quảng Bình", "", Province, 't'),
    ("quangninh", "Tỉnh Quảng Ninh", "", Province, 'b'),
    ("quangtri", "Tỉnh Quảng Trị", "", Province, 't'),
    ("soctrang", "Tỉnh Sóc Trăng", "", Province, 'n'),
    ("sonla", "Tỉnh Sơn La", "", Province, 'b'),
    ("tayninh", "Tỉnh Tây Ninh", "", Province, 'n'),
    ("thaibinh", "Tỉnh Thái Bình", "", Province, 'b'),
    ("thanhhoa", "Tỉnh Thanh Hóa", "", Province, 't'),
    ("tiengiang", "Tỉnh Tiền Giang", "", Province, 'n'),
    ("travinh", "Tỉnh Trà Vinh", "", Province, 'n'),
    ("tuyenquang", "Tỉnh Tuyên Quang", "", Province, 'b'),
    ("vinhlong", "Tỉnh Vĩnh Long", "", Province, 'n'),
    ("vinhphuc", "Tỉnh Vĩnh Phúc", "", Province, 'b'),
    ("yenbai", "Tỉnh Yên Bái", "", Province, 'b'),
];

/// English name: given, or derived from the Vietnamese place name ("Tỉnh Cao Bằng" →
/// "Cao Bang Province").
pub(crate) fn english_name(row: &AgencyRow) -> String {
    let (_, name, en, kind, _) = *row;
    if !en.is_empty() {
        return en.to_string();
    }
    let place = name
        .strip_prefix("Thành phố ")
        .or_else(|| name.strip_prefix("Tỉnh "))
        .unwrap_or(name);
    let ascii = strip_diacritics(place);
    match kind {
        AgencyKind::City => format!("{ascii} City"),
        _ => format!("{ascii} Province"),
    }
}

/// Remove Vietnamese diacritics (decompose, drop combining marks, map đ/Đ).
pub(crate) fn strip_diacritics(s: &str) -> String {
    s.nfd()
        .filter(|c| !('\u{300}'..='\u{36f}').contains(c))
        .map(|c| match c {
            'đ' => 'd',
            'Đ' => 'D',
            c => c,
        })
        .collect()
}

pub(crate) fn region_name(region: char) -> &'static str {
    match region {
        't' => "mien-trung",
        'n' => "mien-nam",
        _ => "mien-bac",
    }
}

/// Verbs of procedure names.
pub(crate) const VERBS: &[&str] = &[
    "Cấp",
    "Cấp lại",
    "Cấp đổi",
    "Gia hạn",
    "Điều chỉnh",
    "Đăng ký",
    "Xác nhận",
    "Thu hồi",
    "Công nhận",
    "Thẩm định",
    "Phê duyệt",
    "Chấp thuận",
];

/// Objects of procedure names.
pub(crate) const OBJECTS: &[&str] = &[
    "giấy phép xây dựng",
    "giấy chứng nhận đăng ký kinh doanh hộ gia đình",
    "chứng chỉ hành nghề",
    "giấy phép lái xe",
    "giấy chứng nhận quyền sử dụng đất",
    "giấy phép hoạt động khám bệnh, chữa bệnh",
    "thông tin cư trú",
    "hộ chiếu phổ thông",
    "giấy phép môi trường",
    "giấy chứng nhận an toàn thực phẩm",
    "bằng tốt nghiệp trung học phổ thông",
    "giấy khai sinh",
    "giấy chứng nhận kết hôn",
    "phiếu lý lịch tư pháp",
    "giấy phép kinh doanh vận tải bằng xe ô tô",
    "giấy phép lao động cho người nước ngoài",
    "hồ sơ thiết kế xây dựng",
    "giấy phép khai thác nước mặt",
    "chứng nhận đủ điều kiện kinh doanh dược",
    "giấy phép tổ chức lễ hội",
];

/// Fields (lĩnh vực).
pub(crate) const FIELDS: &[&str] = &[
    "Đăng ký, quản lý cư trú",
    "Hoạt động xây dựng",
    "Hộ tịch",
    "Đất đai",
    "Y tế",
    "Giáo dục và đào tạo",
    "Môi trường",
    "Đường bộ",
    "Lao động",
    "Thành lập và hoạt động của hộ kinh doanh",
];

/// The name planted for `injected_markup_name` (raw; pages must escape it).
pub(crate) const INJECTED_NAME: &str =
    "Cấp bản sao trích lục <script>alert(1)</script><img src=x onerror=alert(2)> hộ tịch";

/// Executing bodies (cơ quan thực hiện) by agency kind.
pub(crate) fn executing_body(kind: AgencyKind) -> &'static str {
    match kind {
        AgencyKind::Ministry => "Cục, Vụ thuộc Bộ",
        AgencyKind::Province | AgencyKind::City => "Sở, ban, ngành; Ủy ban nhân dân cấp xã",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agency_ids_are_unique_short_ascii() {
        let mut ids: Vec<&str> = AGENCIES.iter().map(|r| r.0).collect();
        assert!(
            ids.iter()
                .all(|id| id.len() <= 16 && id.bytes().all(|b| b.is_ascii_lowercase()))
        );
        ids.sort_unstable();
        let n = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), n);
    }

    #[test]
    fn english_names_are_derived_without_diacritics() {
        let row = AGENCIES.iter().find(|r| r.0 == "caobang").copied();
        assert_eq!(
            row.map(|r| english_name(&r)).as_deref(),
            Some("Cao Bang Province")
        );
        assert_eq!(strip_diacritics("Thành phố Đà Nẵng"), "Thanh pho Da Nang");
    }
}
