-- Standardisation helpers shared by every staging model. ibr_translit is a Python function
-- (anyascii) registered on the connection; it is called only for text that is still not ASCII
-- after strip_accents (Cyrillic, ß, ø, ł ...).
create or replace temp macro ibr_ascii(x) as
    case when regexp_matches(strip_accents(x), '[^\x00-\x7F]') then ibr_translit(strip_accents(x))
         else strip_accents(x) end;

-- lower-case ASCII letters, one space between words; hyphens and punctuation become spaces
create or replace temp macro ibr_clean_name(x) as
    nullif(trim(regexp_replace(regexp_replace(lower(ibr_ascii(x)), '[''`’]', '', 'g'), '[^a-z]+', ' ', 'g')), '');

-- lower-case ASCII letters and digits, one space between words; apostrophes dropped, other punctuation
-- becomes a space ("12, O'Neil St." -> "12 oneil st"): addresses and localities
create or replace temp macro ibr_clean_text(x) as
    nullif(trim(regexp_replace(regexp_replace(lower(ibr_ascii(x)), '[''`’]', '', 'g'), '[^a-z0-9]+', ' ', 'g')), '');

-- a key for matching area codes and names: lower ASCII letters and digits only
create or replace temp macro ibr_area_key(x) as
    nullif(regexp_replace(lower(ibr_ascii(x)), '[^a-z0-9]+', '', 'g'), '');

-- try_cast: DuckDB evaluates both sides of AND, so a letter in an id must not fail the cast (it fails the match)
create or replace temp macro ibr_luhn_valid(s) as
    regexp_full_match(s, '[0-9]+') and
    list_sum(list_transform(range(length(s)), lambda i:
        case when i % 2 = 1
             then (2 * try_cast(substr(s, length(s) - i, 1) as integer)) // 10
                  + (2 * try_cast(substr(s, length(s) - i, 1) as integer)) % 10
             else try_cast(substr(s, length(s) - i, 1) as integer) end)) % 10 = 0;
