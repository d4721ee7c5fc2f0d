#pragma once
// An unordered_map that remembers its last hit. Recorded commands name the same buffer, pipeline
// layout or descriptor set command after command, and a std::unordered_map lookup of a pointer key
// divides by the bucket count every time. An element's address survives rehashing, so the one
// remembered stays good until its key is erased; every erasing member below forgets it.
// Used only through this type (never as a std::unordered_map&), under the executor's dispatch lock.
#include <unordered_map>
#include <utility>

namespace vn::decoder {

template <typename K, typename V>
class LastHitMap : public std::unordered_map<K, V> {
    using Base = std::unordered_map<K, V>;

  public:
    using Base::Base;

    // The value for `key`, or null.
    V* lookup(const K& key) const {
        if (m_hit && m_key == key) [[likely]]
            return m_hit;
        auto it = const_cast<LastHitMap*>(this)->Base::find(key);
        if (it == Base::end())
            return nullptr;
        m_key = key;
        m_hit = &it->second;
        return m_hit;
    }

    typename Base::size_type erase(const K& key) {
        forget(key);
        return Base::erase(key);
    }
    typename Base::iterator erase(typename Base::const_iterator it) {
        forget(it->first);
        return Base::erase(it);
    }
    typename Base::iterator erase(typename Base::iterator it) {
        forget(it->first);
        return Base::erase(it);
    }
    void clear() noexcept {
        m_hit = nullptr;
        Base::clear();
    }

  private:
    void forget(const K& key) {
        if (m_hit && m_key == key)
            m_hit = nullptr;
    }

    mutable K m_key{};
    mutable V* m_hit = nullptr;
};

} // namespace vn::decoder
